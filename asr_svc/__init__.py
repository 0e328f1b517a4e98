"""asr_svc: streaming speech recognition with neural voice-activity endpointing."""

import os

# One BLAS thread: the service runs many streams at once on few cores, and numpy's OpenBLAS
# threads busy-wait between calls, which doubled the CPU time of Whisper's rescoring (its
# features' matrix product, then CTranslate2 beside the spinning threads). Set before numpy
# loads; an explicit setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
