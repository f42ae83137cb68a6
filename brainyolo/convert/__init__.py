"""ANN -> spiking network: calibration, normalization, threshold balancing and tuning, the model file."""
