"""brainyolo: Spiking-YOLO in Brian2.

The pipeline, one module per step::

    darknet      Darknet cfg + weights  ->  graph (batch-norm folded)
    graph        layer dataclasses, shape inference, the per-kind rule registries
    reference    numpy forward pass of the ANN (the reference every spiking result is held to)
    images       image loading and Darknet letterboxing
    heads        YOLO head decoding, non-maximum suppression
    calibration  streaming activation statistics (max, percentile) per layer and per channel
    conversion   data-based normalization (layer-wise / channel-wise lambda)
    modelfile    the versioned, self-describing HDF5 model file
    evaluation   ground-truth readers and mAP with pycocotools
    detection    detections of a model on images, annotated pictures
    cli          the ``brainyolo`` command
"""

__version__ = "0.5.0"
