# The set-up the 16-step studies share, sourced by them with their arguments ([OUT_DIR] [MODEL.h5]): the output
# folder (default runs/tune-16), the model (default OUT_DIR/y3.h5: yolov3-tiny converted with lambda from COCO train
# images 1-16, its layers balanced and its channels not, as these studies measured; made here when missing), the
# image folders of ../shared, and the brainyolo command.
out=${1:-runs/tune-16}
model=${2:-$out/y3.h5}
shared=../shared
train=$shared/data/coco-train2017-first128
val=$shared/data/coco-val2017-first128
by=".venv/bin/python -m brainyolo"
mkdir -p "$out"
# the late neuron as these studies measured it (its file's defaults before 0.10: bursts of up to 8, quiet for 3/4)
late8=$out/late-burst8.toml
sed -e 's/^burst = .*/burst = 8/' -e 's/^quiet = ".*"/quiet = "0.75"/' -e 's/^negative_value = .*/negative_value = 1/' equations/if_signed_ibt_tracking_late.toml > "$late8"
[ -f "$model" ] || $by convert --cfg $shared/models/yolov3-tiny/yolov3-tiny.cfg \
    --weights $shared/models/yolov3-tiny/yolov3-tiny.weights --calib $train/images --calib-count 16 --no-balance-channels -o "$model" -q
