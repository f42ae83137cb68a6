# The files the one-firing-step scripts share, sourced by them after study-16.sh: in $out/one-step ($c), a copy of
# the quiet, settling neuron file quiet for 15/16 of a 16-step run with bursts of up to 64 (late-q1-burst64.toml),
# and the model's balanced thresholds x 0.35 (x0.35.toml); $here and $py.
here=analysis/fast-and-frugal
py=.venv/bin/python
c=$out/one-step
mkdir -p "$c"
sed -e 's/^burst = .*/burst = 64/' -e 's/^quiet = ".*"/quiet = "0.9375"/' -e 's/^negative_value = .*/negative_value = 1/' equations/if_signed_ibt_tracking_late.toml \
    > "$c/late-q1-burst64.toml"
$py $here/threshold_factor.py "$model" 0.35 > "$c/x0.35.toml"
