"""Training the shipped detectors (the ``train`` extra: PyTorch, spikingjelly), and the directly trained
detector's architecture (no PyTorch). ``python -m brainyolo.training`` retrains them."""
