"""The compress op (docs/compression.md): a smaller file that looks like the original.

plan.py           encoder, preset, audio and metric from the probe (pure)
search_policy.py  sample windows, next try, final CRF, time budget (pure)
argv.py           FFmpeg argument lists: samples, tries, final encode, metric (pure)
metric.py         VMAF/SSIM targets and the search's linear scale (pure)
keyframes.py      where the samples start: keyframes found by seeking
scoring.py        running the metric on an encode
search.py         running the search: raw samples, tries, their timing
encode.py         the final encode, scored as it runs where FFmpeg can
progress.py       one progress figure over the phases
report.py         what the job's report says
pipeline.py       the whole job: plan, search, encode, measure, keep or return the input
"""
