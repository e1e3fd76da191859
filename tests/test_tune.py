"""`shelfgraph tune`: a tiny LoRA tune of the type agent on the bundled OA-Mine records (its
examples are the shortest: the tune takes a few minutes on a busy CPU), then the adapter in use: llama.cpp loads it and moves a training example's answer toward its
label, a wrong manifest is refused, tuned facts name the adapter, a re-run calls no model.

The base model is de-quantised from the packaged GGUF once per checkout (minutes; kept in
pytest's cache folder) and loaded once per session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

for _package in ("transformers", "peft", "gguf"):
    pytest.importorskip(_package, reason=f"tuning needs {_package}: pip install -e '.[tune]'")

from shelfgraph.eval.datasets import load_records, record_to_product  # noqa: E402
from shelfgraph.errors import ModelError, UsageError  # noqa: E402
from shelfgraph.llm import get_llm  # noqa: E402
from shelfgraph.llm.local import PACKAGED_MODEL, LocalModel  # noqa: E402
from shelfgraph.prompting import load_prompt  # noqa: E402
from shelfgraph.registry import create  # noqa: E402
from shelfgraph.tuning.manifest import DataRef, Manifest, open_adapter  # noqa: E402
from shelfgraph.tuning.run import tune_step  # noqa: E402
from shelfgraph.tuning.train import TuneSettings  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
SETTINGS = TuneSettings(epochs=2, batch_size=8, rank=8, alpha=16, learning_rate=1e-3, seed=7)


@pytest.fixture(scope="session")
def base_model(packaged_gguf, pytestconfig, tmp_path_factory):
    from shelfgraph.tuning.base import load_base

    cache = getattr(pytestconfig, "cache", None)  # None under `-p no:cacheprovider`: convert afresh
    folder = cache.mkdir("shelfgraph-tune-base") if cache else tmp_path_factory.mktemp("tune-base")
    return load_base(packaged_gguf, folder / packaged_gguf.stem)


@pytest.fixture(scope="module")
def examples():
    """16 training and 4 validation titles from the bundled OA-Mine records, as the agent asks them."""
    agent = create("type", "agent")
    examples = agent.tuning_examples([record_to_product(r) for r in load_records(DEMO / "labelled.jsonl")[::20]])
    return agent.prompt.ref, examples[:16], examples[16:20]


def _tune(folder: Path, examples, base_model, gguf: Path, settings: TuneSettings = SETTINGS) -> Manifest:
    prompt, train, valid = examples
    return tune_step("type", prompt, train, valid, settings, folder, gguf, PACKAGED_MODEL,
                     DataRef(path="demo"), DataRef(path="demo"), show_progress=False, base=base_model)


@pytest.fixture(scope="module")
def adapter(tmp_path_factory, examples, base_model, packaged_gguf) -> Path:
    folder = tmp_path_factory.mktemp("adapter")
    _tune(folder, examples, base_model, packaged_gguf)
    return folder


def _gold_logprob(model: LocalModel, example) -> float:
    """Log-probability of every answer of the example, each after its gold context."""
    total, context = 0.0, example.prompt
    for piece in example.pieces:
        if piece.answer:
            total += model.score(context, [piece.text])[0][0]
        context += piece.text
    return total


def test_tiny_tune_lowers_validation_loss_and_llama_cpp_follows_the_labels(adapter, examples, packaged_gguf):
    manifest = open_adapter(adapter).manifest
    assert manifest.validation.best_loss < manifest.validation.initial_loss
    assert manifest.validation.best_epoch > 0 and len(manifest.validation.history) == SETTINGS.epochs
    assert manifest.step == "type" and manifest.prompt == examples[0]
    assert (adapter / "peft" / "adapter_config.json").is_file()
    base = LocalModel(packaged_gguf, PACKAGED_MODEL)
    tuned = LocalModel(packaged_gguf, "tuned", lora_path=adapter / "adapter.gguf")
    example = examples[1][0]
    assert _gold_logprob(tuned, example) > _gold_logprob(base, example) + 0.5


def test_same_seed_gives_the_same_adapter_after_a_stop_and_resume(tmp_path, adapter, examples, base_model,
                                                                packaged_gguf):
    stopped = _tune(tmp_path, examples, base_model, packaged_gguf, SETTINGS.model_copy(update={"max_minutes": 0}))
    assert stopped.training["stopped"] == "time" and stopped.training["examples_seen"] == SETTINGS.batch_size
    resumed = _tune(tmp_path, examples, base_model, packaged_gguf)
    assert resumed.training["stopped"] == "done"
    assert resumed.gguf_sha256 == open_adapter(adapter).manifest.gguf_sha256


def test_an_adapter_for_another_base_model_step_or_prompt_is_refused_and_no_prompt_means_its_own(tmp_path, adapter, packaged_gguf):
    from shelfgraph.context import LLMConfig

    moved = tmp_path / "other-base"
    shutil.copytree(adapter, moved, ignore=shutil.ignore_patterns("checkpoint.pt"))
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["base_sha256"] = "0" * 64
    (moved / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="tuned on base model"):
        get_llm(LLMConfig(model=str(packaged_gguf)), tmp_path, adapter=moved)
    with pytest.raises(UsageError, match="tuned for step 'type', not 'imputation'"):
        create("imputation", "agent", adapter=str(adapter))
    with pytest.raises(UsageError, match="tuned with prompt"):
        create("type", "agent", adapter=str(adapter), prompt="type@v2")
    manifest["base_sha256"] = open_adapter(adapter).manifest.base_sha256
    manifest["prompt"] = load_prompt("type@v2").ref
    (moved / "manifest.json").write_text(json.dumps(manifest))
    assert create("type", "agent", adapter=str(moved)).prompt.ref == manifest["prompt"]  # no prompt: the adapter's
    (moved / "adapter.gguf").write_bytes(b"not the adapter")
    with pytest.raises(ModelError, match="does not match the hash"):
        open_adapter(moved)
    with pytest.raises(UsageError, match="not an adapter folder"):
        open_adapter(tmp_path)


def test_tuned_facts_carry_the_adapter_hash_and_a_rerun_calls_no_model(tmp_path, adapter, demo_data,
                                                                       packaged_gguf):
    from typer.testing import CliRunner

    from shelfgraph.cli import app
    from shelfgraph.store import Ledger

    catalog, labelled, config = tmp_path / "catalog.jsonl", tmp_path / "labelled.jsonl", tmp_path / "build.toml"
    catalog.write_text("\n".join((demo_data / "catalog.jsonl").read_text().splitlines()[:2]) + "\n")
    labelled.write_text("\n".join((demo_data / "labelled.jsonl").read_text().splitlines()[::10]) + "\n")
    config.write_text(f'[steps.type]\nmethod = "agent"\nconfig = {{adapter = "{adapter}"}}\n')
    command = ["build", str(catalog), "--taxonomy", str(demo_data / "taxonomy"), "--labelled", str(labelled),
               "--store", str(tmp_path / "g.db"), "--config", str(config), "--model", str(packaged_gguf), "--quiet"]
    first = CliRunner().invoke(app, command)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output.strip().splitlines()[-1])["llm"]["calls"] > 0
    adapter_id = open_adapter(adapter).manifest.adapter_id
    with Ledger(tmp_path / "g.db") as ledger:
        tuned = [f for f in ledger.facts(status=None) if f.provenance.method == "agent"]
    assert len(tuned) == 2 and all(f.provenance.model == f"{PACKAGED_MODEL}+lora:{adapter_id}" for f in tuned)
    again = CliRunner().invoke(app, command)
    assert again.exit_code == 0, again.output
    assert json.loads(again.output.strip().splitlines()[-1])["llm"]["calls"] == 0


def test_a_peft_folder_derived_from_the_gguf_holds_the_tunes_own_weights(tmp_path, adapter):
    """A shipped adapter keeps only its GGUF; vLLM's PEFT folder is derived from it, equal to the
    one the tune wrote."""
    import torch
    from peft import LoraConfig
    from safetensors.torch import load_file

    from shelfgraph.tuning.export import peft_folder

    shipped = tmp_path / "shipped"
    shutil.copytree(adapter, shipped, ignore=shutil.ignore_patterns("checkpoint.pt", "peft"))
    derived = peft_folder(open_adapter(shipped), tmp_path / "home")
    assert derived.is_relative_to(tmp_path / "home")
    own = load_file(adapter / "peft" / "adapter_model.safetensors")
    made = load_file(derived / "adapter_model.safetensors")
    assert own.keys() == made.keys() and all(torch.equal(own[name], made[name]) for name in own)
    config = LoraConfig.from_pretrained(str(derived))
    assert (config.r, config.lora_alpha, set(config.target_modules)) == (SETTINGS.rank, SETTINGS.alpha,
                                                                          set(SETTINGS.targets))
    assert peft_folder(open_adapter(adapter), tmp_path / "home") == adapter / "peft"  # its own, when it has one


def test_a_tune_of_the_top_layers_adapts_only_those_and_its_peft_folder_says_so(tmp_path, examples, base_model,
                                                                               packaged_gguf):
    """`--layers N`: LoRA on the top N decoder layers only (no backward pass below them); the
    GGUF holds their tensors alone and the PEFT config derived for vLLM names the same layers."""
    import gguf
    from peft import LoraConfig

    from shelfgraph.tuning.export import peft_folder

    count = base_model.config.num_hidden_layers
    manifest = _tune(tmp_path / "top", examples, base_model, packaged_gguf, SETTINGS.model_copy(update={"layers": 2}))
    assert manifest.validation.best_loss < manifest.validation.initial_loss
    assert manifest.lora["layers"] == [count - 2, count - 1]
    tensors = {t.name for t in gguf.GGUFReader(str(tmp_path / "top" / "adapter.gguf")).tensors}
    assert {name.split(".")[1] for name in tensors} == {str(count - 2), str(count - 1)}
    assert len(tensors) == 2 * 2 * len(SETTINGS.targets)  # lora_a and lora_b of every target, two layers
    shutil.rmtree(tmp_path / "top" / "peft")
    derived = LoraConfig.from_pretrained(str(peft_folder(open_adapter(tmp_path / "top"), tmp_path / "home")))
    assert derived.layers_to_transform == [count - 2, count - 1]
    with pytest.raises(ValueError, match=f"between 1 and the model's {count} decoder layers"):
        _tune(tmp_path / "bad", examples, base_model, packaged_gguf, SETTINGS.model_copy(update={"layers": count + 1}))


def test_a_peft_folder_another_process_derived_first_is_kept(tmp_path, adapter, monkeypatch):
    """Two processes deriving one shipped adapter's PEFT folder at once: the later one finds the
    folder made, keeps it and removes its own copy (an injected race: the other writer finishes
    between this one's check and its rename)."""
    from shelfgraph.tuning import export

    shipped = tmp_path / "shipped"
    shutil.copytree(adapter, shipped, ignore=shutil.ignore_patterns("checkpoint.pt", "peft"))
    home = tmp_path / "home"
    derived = home / "adapters" / open_adapter(shipped).manifest.served_name() / "peft"
    write = export.write_peft_from_gguf

    def raced(opened, out):
        write(opened, derived)  # the other process, done first
        write(opened, out)

    monkeypatch.setattr(export, "write_peft_from_gguf", raced)
    assert export.peft_folder(open_adapter(shipped), home) == derived
    assert (derived / "adapter_model.safetensors").is_file()
    assert sorted(p.name for p in derived.parent.iterdir()) == ["peft"]  # no partial copy left


def test_a_device_torch_cannot_use_is_refused_before_any_data_is_read(tmp_path):
    """`--device auto` is the CPU on a torch without CUDA; asking for a GPU there fails at once,
    naming the device, with no adapter folder started (reading data and the base model take minutes)."""
    from typer.testing import CliRunner

    from shelfgraph.cli import app
    from shelfgraph.tuning.train import torch_device

    import torch

    result = CliRunner().invoke(app, ["tune", "type", "--train", str(DEMO / "labelled.jsonl"),
                                      "--out", str(tmp_path / "out"), "--device", "nope"])
    assert result.exit_code == 2 and "device 'nope'" in result.output
    if not torch.cuda.is_available():
        assert torch_device("auto") == "cpu"
        result = CliRunner().invoke(app, ["tune", "type", "--train", str(DEMO / "labelled.jsonl"),
                                          "--out", str(tmp_path / "out"), "--device", "cuda"])
        assert result.exit_code == 2 and "device 'cuda': this torch sees no CUDA GPU" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()
