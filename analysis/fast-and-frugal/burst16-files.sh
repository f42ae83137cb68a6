# The files the bursts-of-16 studies share, sourced by them after study-16.sh: OUT_DIR/burst16/late-burst16.toml
# (equations/if_signed_ibt_tracking_late.toml with burst = 16) and the balanced thresholds x 0.45 and x 0.4
# (x0.45.toml, x0.4.toml); $here, $py and $c for the scripts.
here=analysis/fast-and-frugal
py=.venv/bin/python
c=$out/burst16
mkdir -p "$c"
sed -e 's/^burst = .*/burst = 16/' -e 's/^quiet = ".*"/quiet = "0.75"/' -e 's/^negative_value = .*/negative_value = 1/' equations/if_signed_ibt_tracking_late.toml > "$c/late-burst16.toml"
for f in 0.45 0.4; do $py $here/threshold_factor.py "$model" $f > "$c/x$f.toml"; done
