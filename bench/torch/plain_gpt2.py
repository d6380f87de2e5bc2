"""GPT-2 tiny (samples/gpt2.model --preset tiny) written plainly in PyTorch, in one process:
the comparison bench/torch.ts times the exported plan against (a sanity check, not a race).

Same shapes and step as mdc's train section: 2 layers of width 128, 4 heads, vocabulary 1024,
sequences of 64, 2 micro-batches of 2 sequences, AdamW (lr 3e-4, betas 0.9/0.95, eps 1e-8,
weight decay 0.1 on matrices), tied embeddings, tanh GELU. Prints one JSON line: the median
step time over --steps steps after the first.
"""

import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F

V, CTX, D, H, L, S, B, MICRO = 1024, 128, 128, 4, 2, 64, 2, 2


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(D, eps=1e-5)
        self.ln2 = torch.nn.LayerNorm(D, eps=1e-5)
        self.qkv = torch.nn.Linear(D, 3 * D)
        self.o = torch.nn.Linear(D, D)
        self.w1 = torch.nn.Linear(D, 4 * D)
        self.w2 = torch.nn.Linear(4 * D, D)

    def forward(self, x):
        b, s, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=-1)
        heads = lambda t: t.reshape(b, s, H, D // H).transpose(1, 2)
        att = heads(q) @ heads(k).transpose(-1, -2) / math.sqrt(D // H)
        att = att.masked_fill(torch.ones(s, s, dtype=torch.bool).triu(1), -math.inf).softmax(-1)
        x = x + self.o((att @ heads(v)).transpose(1, 2).reshape(b, s, D))
        return x + self.w2(F.gelu(self.w1(self.ln2(x)), approximate="tanh"))


class Gpt2(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = torch.nn.Parameter(torch.randn(V, D) * 0.02)
        self.wpe = torch.nn.Parameter(torch.randn(CTX, D) * 0.01)
        self.layers = torch.nn.ModuleList(Layer() for _ in range(L))
        self.lnf = torch.nn.LayerNorm(D, eps=1e-5)

    def forward(self, tokens):
        h = self.wte[tokens] + self.wpe[: tokens.shape[1]]
        for layer in self.layers:
            h = layer(h)
        return self.lnf(h) @ self.wte.t()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=6)
    args = p.parse_args()
    torch.manual_seed(0)
    model = Gpt2()
    decay = [q for q in model.parameters() if q.dim() >= 2]
    rest = [q for q in model.parameters() if q.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=3e-4, betas=(0.9, 0.95), eps=1e-8)
    tokens = torch.randint(0, V, (B * MICRO, S))
    labels = torch.randint(0, V, (B * MICRO, S))
    times = []
    for _ in range(args.steps):
        began = time.perf_counter()
        opt.zero_grad()
        for m in range(MICRO):
            rows = slice(m * B, (m + 1) * B)
            loss = F.cross_entropy(model(tokens[rows]).reshape(-1, V), labels[rows].reshape(-1)) / MICRO
            loss.backward()
        opt.step()
        times.append(time.perf_counter() - began)
    print(json.dumps({"median_s": statistics.median(times[1:]), "steps": args.steps, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
