"""Generates the Hugging Face transformers oracle fixtures used by TransformersOracleTests.

Run where PyTorch + transformers exist (here: the lent GPU machine, through the device tool):
    OUT=/some/dir python3 tests/FalconMamba.Tests/Fixtures/transformers/make_oracle.py
then unpack $OUT/oracle.tar.gz into tests/FalconMamba.Tests/Fixtures/transformers/.

For each tiny model it builds FalconMambaForCausalLM / MambaForCausalLM with random weights, saves it with
save_pretrained (a real HF folder: config.json + model.safetensors), and records in oracle.safetensors:
input ids, targets, logits in f32 and f64 (slow path on CPU), the mean cross-entropy loss and the gradient of every
parameter (f64 autograd), and greedy generate() output through HF's recurrent cache.
"""
import os, sys, json, tarfile, traceback, platform

out = os.environ.get("OUT", "/tmp/oracle-out")
work = "/tmp/oracle"
os.makedirs(out, exist_ok=True)
os.makedirs(work, exist_ok=True)

import torch
import torch.nn.functional as F
import transformers
from transformers import FalconMambaConfig, FalconMambaForCausalLM, MambaConfig, MambaForCausalLM
from safetensors.torch import save_file

print("python", platform.python_version(), "torch", torch.__version__, "transformers", transformers.__version__, flush=True)
torch.use_deterministic_algorithms(True)

CASES = [
    dict(name="falcon_odd", cls="falcon", hidden_size=72, num_hidden_layers=3, intermediate_size=136, state_size=8,
         time_step_rank=5, conv_kernel=3, vocab_size=300, tie_word_embeddings=False),
    dict(name="falcon_basic", cls="falcon", hidden_size=32, num_hidden_layers=2, intermediate_size=64, state_size=16,
         time_step_rank=4, conv_kernel=4, vocab_size=97, tie_word_embeddings=False),
    dict(name="mamba_tied", cls="mamba", hidden_size=48, num_hidden_layers=2, intermediate_size=96, state_size=16,
         time_step_rank=3, conv_kernel=4, vocab_size=97, tie_word_embeddings=True),
    dict(name="falcon_grad", cls="falcon", hidden_size=12, num_hidden_layers=2, intermediate_size=20, state_size=4,
         time_step_rank=3, conv_kernel=3, vocab_size=37, tie_word_embeddings=False),
    dict(name="mamba_grad", cls="mamba", hidden_size=12, num_hidden_layers=2, intermediate_size=24, state_size=4,
         time_step_rank=2, conv_kernel=4, vocab_size=37, tie_word_embeddings=True),
]

summary = {"torch": torch.__version__, "transformers": transformers.__version__, "cases": []}
for case in CASES:
    name = case["name"]
    try:
        torch.manual_seed(1234)
        kw = {k: v for k, v in case.items() if k not in ("name", "cls")}
        Cfg, Model = (FalconMambaConfig, FalconMambaForCausalLM) if case["cls"] == "falcon" else (MambaConfig, MambaForCausalLM)
        cfg = Cfg(**kw, layer_norm_epsilon=1e-5, bos_token_id=0, eos_token_id=0, pad_token_id=0, use_cache=True)
        for attr in ("use_associative_scan", "use_mambapy", "use_falcon_mambapy"):
            if hasattr(cfg, attr):
                setattr(cfg, attr, False)
        model = Model(cfg).float().eval()
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.add_(torch.randn_like(p) * 0.3)   # richer dynamics than the init alone
        folder = os.path.join(work, name, "model")
        model.save_pretrained(folder)
        T = 40
        g = torch.Generator().manual_seed(7)
        ids = torch.randint(0, cfg.vocab_size, (1, T), generator=g)
        targets = torch.randint(0, cfg.vocab_size, (1, T), generator=g)
        with torch.no_grad():
            logits32 = model(ids).logits[0].float().clone()
            gen = model.generate(ids[:, :10], max_new_tokens=8, do_sample=False, min_new_tokens=8)[0, 10:]
        m64 = model.double()
        m64.zero_grad()
        logits64 = m64(ids).logits[0]
        loss = F.cross_entropy(logits64, targets[0])
        loss.backward()
        tensors = {
            "input_ids": ids[0].to(torch.int32).contiguous(),
            "targets": targets[0].to(torch.int32).contiguous(),
            "logits_f32": logits32.contiguous(),
            "logits_f64": logits64.detach().contiguous(),
            "loss": loss.detach().reshape(1).contiguous(),
            "generated": gen.to(torch.int32).contiguous(),
        }
        for n, p in m64.named_parameters():
            tensors["grad." + n] = p.grad.detach().contiguous()
        save_file(tensors, os.path.join(work, name, "oracle.safetensors"))
        summary["cases"].append({"name": name, "loss": loss.item(), "params": [n for n, _ in m64.named_parameters()]})
        print(name, "ok loss", loss.item(), "generated", gen.tolist(), flush=True)
    except Exception:
        traceback.print_exc()
        summary["cases"].append({"name": name, "error": traceback.format_exc()})

with open(os.path.join(work, "summary.json"), "w") as f:
    json.dump(summary, f, indent=1)
with tarfile.open(os.path.join(out, "oracle.tar.gz"), "w:gz") as tar:
    tar.add(work, arcname=".")
print("done", flush=True)
