# The set-up the 16-step studies share, sourced by them with their arguments ([OUT_DIR] [MODEL.h5]): the output
# folder (default runs/tune-16), the model (default OUT_DIR/y3.h5: yolov3-tiny converted with lambda from COCO train
# images 1-16, made here when missing), the image folders of ../shared, and the brainyolo command.
out=${1:-runs/tune-16}
model=${2:-$out/y3.h5}
shared=../shared
train=$shared/data/coco-train2017-first128
val=$shared/data/coco-val2017-first128
by=".venv/bin/python -m brainyolo"
mkdir -p "$out"
[ -f "$model" ] || $by convert --cfg $shared/models/yolov3-tiny/yolov3-tiny.cfg \
    --weights $shared/models/yolov3-tiny/yolov3-tiny.weights --calib $train/images --calib-count 16 -o "$model" -q
