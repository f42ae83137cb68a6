#!/bin/bash
# negative-grid-snn.sh with the late neuron firing in the last step only (bursts of up to 128):
#   bash analysis/fast-and-frugal/negative-grid-one-step.sh [OUT_DIR] [FACTORS] [VAL_FACTOR]
FIRING=one exec bash "$(dirname "$0")/negative-grid-snn.sh" "$@"
