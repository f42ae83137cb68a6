"""The ANN: Darknet import and export, the network graph, the numpy reference forward pass, YOLO heads
and Darknet's letterbox."""
