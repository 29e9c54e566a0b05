import json

from sft_vs_rl.cli import main


def test_build_tiny_writes_a_loadable_folder(tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "tiny"
    assert main(["build-tiny", "--kind", "llama", "--preset", "nano", "--output-dir", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["path"] == str(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.num_parameters() == summary["num_parameters"]
    assert len(AutoTokenizer.from_pretrained(out)) == model.config.vocab_size


def test_build_tiny_unknown_preset(tmp_path, capsys):
    assert main(["build-tiny", "--preset", "smal", "--output-dir", str(tmp_path)]) == 2
    assert "Did you mean 'small'" in capsys.readouterr().err
