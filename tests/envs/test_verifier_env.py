from sft_vs_rl.envs.verifier_env import FAILURE_PREFIX, Verdict, retry_turns, text_space, user_turn


def test_retry_turns_grow_the_conversation_by_answer_and_feedback():
    answer, feedback = retry_turns('{"formula": "1+1"}', "illegal characters.")
    assert answer == {"role": "assistant", "content": [{"type": "text", "text": '{"formula": "1+1"}'}]}
    assert feedback["role"] == "user"
    assert feedback["content"][0]["text"] == FAILURE_PREFIX + "illegal characters."


def test_user_turn_puts_images_before_text():
    turn = user_turn("hello", num_images=2)
    assert [item["type"] for item in turn["content"]] == ["image", "image", "text"]


def test_text_space_holds_prompts_with_card_suits():
    assert text_space().contains("Cards: ['A', '10', 'K', '5'] ♠♣\n{\n}")


def test_verdict_metrics_default_to_a_fresh_dict():
    assert Verdict(1.0, "ok", True).metrics is not Verdict(1.0, "ok", True).metrics
