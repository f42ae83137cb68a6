# The set-up the channel-balancing scripts share, sourced with their argument ([OUT_DIR], default runs/channels):
# study-16.sh's folders, $here, $py, and the channel-balanced model $model (OUT_DIR/y3c.h5: convert
# --balance-channels with lambda and the balance from COCO train images 1-16, made here when missing).
out=${1:-runs/channels}
source analysis/fast-and-frugal/study-16.sh "$out" "$out/y3.h5"
here=analysis/fast-and-frugal
py=.venv/bin/python
model=$out/y3c.h5
[ -f "$model" ] || $by convert --cfg $shared/models/yolov3-tiny/yolov3-tiny.cfg \
    --weights $shared/models/yolov3-tiny/yolov3-tiny.weights --calib $train/images --calib-count 16 \
    --balance-channels -o "$model" -q
