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

In chunks (docs/compression.md, "Chunks"), for inputs from 30 s:
scenes.py         the scene pass: each frame's time and change score
chunks.py         cutting at scene changes into bounded chunks (pure)
chunk_frames.py   where a run of frames lies: seek, span, duration (pure)
chunk_trials.py   each chunk's rate points: a few CRFs tried and scored
allocation.py     each chunk's CRF for the whole file's quality (pure)
chunk_encode.py   one chunk's encode: a serialisable task, its run and its check
chunk_workers.py  tasks side by side, one per core
chunk_manifest.py what the job's work directory holds (resume)
join.py           the chunks joined losslessly, the other streams from the source
chunk_scores.py   the whole result scored, and each chunk's share
chunk_correction.py  new CRFs after the whole result is scored (pure)
chunk_report.py   the report's chunk rows and spread
chunked_pipeline.py  the whole chunked job
"""
