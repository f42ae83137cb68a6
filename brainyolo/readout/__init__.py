"""After a run: recordings, decoding into detections at every checkpoint, ground truth and mAP."""
