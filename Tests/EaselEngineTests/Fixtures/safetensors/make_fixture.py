# Regenerate tiny.safetensors (run from this directory):
#   /work/venv/bin/python make_fixture.py
# Values are chosen to be exactly representable in their dtype; SafeTensorsTests checks them.
import torch
from safetensors.torch import save_file

tensors = {
    "a.f32": torch.tensor([[0.0, 1.0, -2.5], [3.25, 1e-3, 65504.0]], dtype=torch.float32),
    "b.f16": torch.tensor([1.0, -0.5, 0.333251953125, 65504.0, 2.0**-24], dtype=torch.float16),
    "c.bf16": torch.tensor([[1.0, -2.0], [0.15625, 3.0 * 2.0**100]], dtype=torch.bfloat16),
    "d.i64": torch.tensor(7, dtype=torch.int64),
    "e.bool": torch.tensor([True, False, True]),
}
save_file(tensors, "tiny.safetensors", metadata={"format": "pt", "note": "easel fixture"})
