"""Loads the shipped default model (models/falcon-mamba-tiny-kjv) with Hugging Face transformers and records what
transformers computes, so a test can check that our checkpoint and tokenizer files mean the same thing there.
Run where transformers exists (the lent GPU machine):  OUT=dir python3 tests/.../check_default_model.py
Writes $OUT/default_model_oracle.json: input ids from the HF tokenizer, last-position logits (f32 CPU), greedy ids,
and the rendered ChatML prompt from apply_chat_template."""
import json, os, torch, transformers
from transformers import AutoTokenizer, FalconMambaForCausalLM
out = os.environ.get("OUT", "/tmp")
d = "models/falcon-mamba-tiny-kjv"
tok = AutoTokenizer.from_pretrained(d)
model = FalconMambaForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
text = "In the beginning God created the heaven and the earth. And the earth was without form, and void; 1234567 it's!!!"
ids = tok(text, add_special_tokens=False)["input_ids"]
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0].float()
    gen = model.generate(torch.tensor([ids[:8]]), max_new_tokens=12, do_sample=False, min_new_tokens=12)[0, 8:].tolist()
chat = tok.apply_chat_template([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
# The same model with the newest config's parallel associative scan switched off (the path our other fixtures use).
from transformers import AutoConfig
cfg = AutoConfig.from_pretrained(d)
res_cfg = {k: getattr(cfg, k, None) for k in ("use_associative_scan", "use_mambapy", "use_falcon_mambapy")}
for attr in ("use_associative_scan", "use_mambapy", "use_falcon_mambapy"):
    if hasattr(cfg, attr): setattr(cfg, attr, False)
model2 = FalconMambaForCausalLM.from_pretrained(d, config=cfg, dtype=torch.float32).eval()
with torch.no_grad():
    logits2 = model2(torch.tensor([ids])).logits[0].float()
res = {"defaults": res_cfg, "logits_last_no_assoc": logits2[-1].tolist(), "transformers": transformers.__version__, "torch": torch.__version__, "text": text, "ids": ids,
       "logits_last": logits[-1].tolist(), "logits_first": logits[0].tolist(), "greedy": gen, "chat": chat}
json.dump(res, open(os.path.join(out, "default_model_oracle.json"), "w"))
print("ok", len(ids), gen, repr(chat))
