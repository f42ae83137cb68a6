# The set-up the presets' scripts share, sourced with their arguments after setting $out (OUT_DIR, or their
# default): the image folders of ../shared, the brainyolo command, and OUT_DIR/y3.h5, yolov3-tiny converted with
# the defaults of `brainyolo convert` (lambda and the balancing from COCO train images 1-16), made when missing.
shared=../shared
train=$shared/data/coco-train2017-first128
val=$shared/data/coco-val2017-first128
py=.venv/bin/python
by="$py -m brainyolo"
mkdir -p "$out"
model=$out/y3.h5
[ -f "$model" ] || $by convert --cfg $shared/models/yolov3-tiny/yolov3-tiny.cfg \
    --weights $shared/models/yolov3-tiny/yolov3-tiny.weights --calib $train/images --calib-count 16 -o "$model" -q
