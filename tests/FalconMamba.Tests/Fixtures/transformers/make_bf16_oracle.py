"""PyTorch autocast (bfloat16, CPU) on the two gradient fixtures (falcon_grad, mamba_grad): the reference for the
trainer's `precision: bf16` option. Run where PyTorch + transformers exist (the lent GPU machine):
    OUT=dir python3 tests/FalconMamba.Tests/Fixtures/transformers/make_bf16_oracle.py
Writes $OUT/<case>_bf16.safetensors (committed as <case>/bf16_autocast.safetensors): loss_f32, loss_bf16 (mean cross-entropy in f32 of logits computed under
torch.autocast("cpu", torch.bfloat16)) and grad.<name> (f32 parameter gradients of that loss)."""
import os, torch, torch.nn.functional as F, transformers
from safetensors.torch import load_file, save_file
from transformers import FalconMambaForCausalLM, MambaForCausalLM, AutoConfig

out = os.environ.get("OUT", "/tmp")
here = os.path.dirname(os.path.abspath(__file__))
torch.use_deterministic_algorithms(True)
for name, Model in (("falcon_grad", FalconMambaForCausalLM), ("mamba_grad", MambaForCausalLM)):
    d = os.path.join(here, name)
    o = load_file(os.path.join(d, "oracle.safetensors"))
    cfg = AutoConfig.from_pretrained(os.path.join(d, "model"))
    for attr in ("use_associative_scan", "use_mambapy", "use_falcon_mambapy"):
        if hasattr(cfg, attr): setattr(cfg, attr, False)
    m = Model.from_pretrained(os.path.join(d, "model"), config=cfg, dtype=torch.float32).train()
    ids, targets = o["input_ids"].long()[None], o["targets"].long()
    with torch.no_grad():
        loss32 = F.cross_entropy(m(ids).logits[0].float(), targets)
    m.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = m(ids).logits[0]
    loss = F.cross_entropy(logits.float(), targets)
    loss.backward()
    t = {"loss_f32": loss32.reshape(1), "loss_bf16": loss.detach().reshape(1), "logits_dtype_is_bf16": torch.tensor([int(logits.dtype == torch.bfloat16)])}
    for n, p in m.named_parameters():
        t["grad." + n] = p.grad.detach().float().contiguous()
    save_file(t, os.path.join(out, f"{name}_bf16.safetensors"))
    print(name, "f32", loss32.item(), "bf16 autocast", loss.item(), "fixture f64", o["loss"].item(), "logits", logits.dtype, flush=True)
print("torch", torch.__version__, "transformers", transformers.__version__)
