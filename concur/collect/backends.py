"""Generation backends behind one small interface.

- TransformersBackend: CPU or GPU, batched `generate` with left padding.
- VllmBackend: batched offline generation (vllm is an optional extra, imported only here,
  only when this backend is chosen).

Both take prompts as token ids (see prompts.encode_prompt) and report, per prompt, the
generated text and the exact prompt / generated token counts the cost is computed from.
"""
from __future__ import annotations

import gc
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import ConcurError

DEFAULT_BATCH = {"vllm": 256, "transformers": 8}


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    generated_tokens: int


class Backend(Protocol):
    name: str
    tokenizer: Any

    def generate(self, prompts: list[list[int]], max_new_tokens: int) -> list[Generation]: ...

    def num_params(self) -> int: ...

    def close(self) -> None: ...


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        return False


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def choose_backend(requested: str) -> str:
    """'auto' -> vllm when it is installed and a GPU is present, else transformers."""
    if requested == "auto":
        return "vllm" if vllm_available() and _cuda_available() else "transformers"
    if requested == "vllm" and not vllm_available():
        raise ConcurError("config key 'collect.backend' is 'vllm' but vllm is not installed (pip install -r requirements-gpu.txt)")
    return requested


def _device(requested: str) -> str:
    if requested == "auto":
        return "cuda" if _cuda_available() else "cpu"
    return requested


def _torch_dtype(name: str, device: str):
    import torch

    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, name)


def _load_error(checkpoint: str, err: Exception) -> ConcurError:
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return ConcurError(f"checkpoint '{checkpoint}': cannot load model/tokenizer: {first}")


def count_params(checkpoint: str, trust_remote_code: bool = False) -> int:
    """Parameter count from a weightless ('meta') copy of the architecture: nothing is loaded."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        cfg = AutoConfig.from_pretrained(checkpoint, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as err:
        raise _load_error(checkpoint, err) from None
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg, trust_remote_code=trust_remote_code)
    return int(sum(p.numel() for p in model.parameters()))


class TransformersBackend:
    name = "transformers"

    def __init__(self, checkpoint: str, device: str = "auto", dtype: str = "auto",
                 temperature: float = 0.0, seed: int = 0, trust_remote_code: bool = False) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = _device(device)
        self.temperature = float(temperature)
        self.seed = seed
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(checkpoint, trust_remote_code=trust_remote_code)
            self.model = AutoModelForCausalLM.from_pretrained(
                checkpoint, dtype=_torch_dtype(dtype, self.device), trust_remote_code=trust_remote_code)
        except (OSError, ValueError, KeyError) as err:
            raise _load_error(checkpoint, err) from None
        self.model.to(self.device).eval()
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else next(iter(self.eos_ids), 0)
        self.pad_id = int(pad)
        self._torch = torch

    def num_params(self) -> int:
        return int(sum(p.numel() for p in self.model.parameters()))

    def generate(self, prompts: list[list[int]], max_new_tokens: int) -> list[Generation]:
        from transformers import GenerationConfig

        torch = self._torch
        width = max(len(p) for p in prompts)
        # left padding: every prompt ends at the same position, generation continues from there
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[i, width - len(p):] = 1
        sample = self.temperature > 0
        gen_cfg = GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=sample, temperature=self.temperature if sample else None,
            top_p=None, top_k=None, pad_token_id=self.pad_id, eos_token_id=sorted(self.eos_ids) or None)
        if sample:
            torch.manual_seed(self.seed)
        with torch.inference_mode():
            out = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                      generation_config=gen_cfg)
        new = out[:, width:].cpu()
        # generated length = up to and including the first EOS (the rest is padding)
        is_eos = torch.zeros_like(new, dtype=torch.bool)
        for e in self.eos_ids:
            is_eos |= new == e
        has_eos = is_eos.any(dim=1)
        first = torch.where(has_eos, is_eos.int().argmax(dim=1), torch.full_like(has_eos, new.shape[1], dtype=torch.long))
        n_gen = torch.where(has_eos, first + 1, first).tolist()
        texts = self.tokenizer.batch_decode([row[:f].tolist() for row, f in zip(new, first.tolist())],
                                            skip_special_tokens=True)
        return [Generation(t, len(p), n) for t, p, n in zip(texts, prompts, n_gen)]

    def close(self) -> None:
        del self.model
        gc.collect()
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()


class VllmBackend:
    name = "vllm"

    def __init__(self, checkpoint: str, tensor_parallel_size: int = 1, dtype: str = "auto",
                 temperature: float = 0.0, seed: int = 0, gpu_memory_utilization: float = 0.9,
                 trust_remote_code: bool = False) -> None:
        from vllm import LLM, SamplingParams

        self.checkpoint = checkpoint
        self.trust_remote_code = trust_remote_code
        self._sampling = SamplingParams
        self.temperature = float(temperature)
        self.seed = seed
        try:
            self.llm = LLM(model=checkpoint, tensor_parallel_size=tensor_parallel_size, dtype=dtype, seed=seed,
                           gpu_memory_utilization=gpu_memory_utilization, trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as err:
            raise _load_error(checkpoint, err) from None
        self.tokenizer = self.llm.get_tokenizer()

    def num_params(self) -> int:
        return count_params(self.checkpoint, self.trust_remote_code)

    def generate(self, prompts: list[list[int]], max_new_tokens: int) -> list[Generation]:
        params = self._sampling(temperature=self.temperature, max_tokens=max_new_tokens,
                                seed=self.seed if self.temperature > 0 else None)
        outs = self.llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
        return [Generation(o.outputs[0].text, len(o.prompt_token_ids), len(o.outputs[0].token_ids)) for o in outs]

    def close(self) -> None:
        del self.llm
        try:  # free the GPU before the next model is loaded
            from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel

            destroy_model_parallel()
            destroy_distributed_environment()
        except Exception:  # noqa: BLE001 - best effort, differs across vllm versions
            pass
        gc.collect()
        try:
            import torch

            torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001
            pass


def make_backend(kind: str, checkpoint: str | Path, collect_cfg: Any, seed: int) -> Backend:
    checkpoint = str(checkpoint)
    if kind == "vllm":
        return VllmBackend(checkpoint, collect_cfg.tensor_parallel_size, collect_cfg.dtype, collect_cfg.temperature,
                           seed, collect_cfg.gpu_memory_utilization, collect_cfg.trust_remote_code)
    return TransformersBackend(checkpoint, collect_cfg.device, collect_cfg.dtype, collect_cfg.temperature, seed,
                               collect_cfg.trust_remote_code)
