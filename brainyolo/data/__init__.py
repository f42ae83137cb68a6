"""Data: the shipped detectors (the files in this folder), generated scenes and event scenes, the DVS
emulator, downloads of real Darknet models."""
