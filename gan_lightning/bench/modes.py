"""The benchmark's paths by name, and the previous version's defaults (no heavy imports: the
command answers --help and bad arguments at once)."""

# The previous version's defaults: fp32, contiguous tensors, Adam's for-loop implementation.
FP32_DEFAULTS = [
    "trainer.precision=32-true",
    "model.channels_last=false",
    "model.g_optimizer.fused=null",
    "model.d_optimizer.fused=null",
]
MODES = ("template", "template_fp32", "plain", "plain_memory", "plain_memory_frozen_d")
