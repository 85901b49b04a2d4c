"""Specification of matching.text: normalisation, tokenisation, the user dictionary."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from matching.text import (
    STOPWORDS_PATH,
    USER_DICTIONARY_PATH,
    Tokenizer,
    default_tokenizer,
    normalize,
    read_word_list,
    write_user_dictionary,
)


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return default_tokenizer()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("５Ｇ通信模组", "5g通信模组"),                      # full-width digits and letters
        ("ＡＩ芯片，国产化！", "ai芯片,国产化!"),             # full-width punctuation
        ("“碳纤维”与「预浸料」", '"碳纤维"与"预浸料"'),        # quote variants
        ("中试——产业化", "中试--产业化"),                     # dash variants
        ("海参加工。副产物、利用", "海参加工.副产物,利用"),     # CJK stops and enumeration comma
        ("  钓具\u3000\t设计\n\n方案  ", "钓具 设计 方案"),    # ideographic space, runs of whitespace
        ("医疗\u200b器械", "医疗器械"),                       # zero-width space
        ("Wi-Fi 6 Module", "wi-fi 6 module"),
    ],
)
def test_normalize_folds_width_case_punctuation_and_whitespace(raw, expected):
    assert normalize(raw) == expected


def test_normalize_is_idempotent():
    text = "  ＡＩ芯片——“国产化”\n方案。 "
    assert normalize(normalize(text)) == normalize(text)


def test_tokens_drop_stop_words_punctuation_and_single_cjk_characters(tokenizer):
    tokens = tokenizer.tokens("我们公司需要进行碳纤维复合材料的低成本制备工艺研究，谢谢！")
    assert tokens == ["碳纤维", "复合材料", "低成本", "制备", "工艺", "谢谢"]


def test_tokens_are_normalised_so_width_and_case_do_not_matter(tokenizer):
    assert tokenizer.tokens("５Ｇ通信模组") == tokenizer.tokens("5g通信模组") == ["5g", "通信", "模组"]


def test_user_dictionary_terms_stay_whole(tokenizer):
    assert "海洋生物" in tokenizer.tokens("海洋生物资源综合利用")
    assert "无损检测" in tokenizer.tokens("复合材料构件的无损检测")


def test_dictionary_entries_with_capitals_survive_lower_casing(tokenizer):
    assert "x射线" in tokenizer.tokens("X射线成像")


def test_single_ascii_letters_and_digits_are_kept_as_possible_part_numbers(tokenizer):
    assert tokenizer.tokens("型号 B 3") == ["型号", "b", "3"]


def test_extra_user_terms_are_added_at_construction():
    assert "高模量碳纤维" not in default_tokenizer().tokens("高模量碳纤维预浸料")
    custom = Tokenizer(user_terms=["高模量碳纤维"])
    assert custom.tokens("高模量碳纤维预浸料") == ["高模量碳纤维", "预浸料"]


def test_extra_terms_do_not_leak_into_other_tokenizers_or_global_jieba():
    import jieba

    Tokenizer(user_terms=["钓具碳纤维杆"])
    assert "钓具碳纤维杆" not in default_tokenizer().tokens("钓具碳纤维杆")
    assert "钓具碳纤维杆" not in jieba.lcut("钓具碳纤维杆")


def test_empty_and_blank_text_give_no_tokens(tokenizer):
    assert tokenizer.tokens("") == []
    assert tokenizer.tokens(" \n，。！ ") == []


def test_default_tokenizer_is_loaded_once():
    assert default_tokenizer() is default_tokenizer()


def test_loading_the_dictionary_prints_nothing():
    # In a fresh interpreter: here the dictionary is already loaded and cached.
    script = "from matching.text import Tokenizer; Tokenizer().tokens('碳纤维')"
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent.parent, check=True)
    assert finished.stderr == ""
    assert finished.stdout == ""


def test_bundled_stop_words_hold_filler_but_no_domain_words():
    stopwords = set(read_word_list(STOPWORDS_PATH))
    assert {"的", "了", "和", "与", "进行", "实现", "提供", "我们", "公司", "需要", "技术"} <= stopwords
    assert not {"碳纤维", "海参", "钓具", "医疗器械", "康养"} & stopwords


def test_bundled_user_dictionary_is_sorted_unique_and_covers_the_clusters():
    terms = read_word_list(USER_DICTIONARY_PATH)
    assert terms == sorted(set(terms))
    assert len(terms) >= 150
    assert {"碳纤维", "海洋生物", "医疗器械", "智能制造", "康养", "钓具"} <= set(terms)


def test_write_user_dictionary_writes_sorted_unique_normalised_terms(tmp_path):
    path = tmp_path / "resources" / "userdict.txt"
    count = write_user_dictionary(["碳纤维", "ＡＩ芯片", "碳纤维", "", "  ", "海", "数字 孪生"], path)
    assert path.read_text(encoding="utf-8").splitlines() == sorted(["ai芯片", "碳纤维", "数字", "孪生"])
    assert count == 4


def test_a_written_user_dictionary_is_used_by_the_tokenizer(tmp_path):
    path = tmp_path / "userdict.txt"
    write_user_dictionary(["低温等离子灭菌"], path)
    tokenizer = Tokenizer(user_dictionary_path=path)
    assert "低温等离子灭菌" in tokenizer.tokens("低温等离子灭菌设备")


def test_user_dictionary_lines_may_carry_frequency_and_tag(tmp_path):
    path = tmp_path / "userdict.txt"
    path.write_text("船用复合材料 500 n\n海水淡化膜 nz\n", encoding="utf-8")
    tokenizer = Tokenizer(user_dictionary_path=path)
    assert tokenizer.tokens("船用复合材料与海水淡化膜") == ["船用复合材料", "海水淡化膜"]


def test_dictionary_terms_keep_what_jieba_would_shatter_and_skip_compounds():
    from matching.text import dictionary_terms
    assert dictionary_terms(["预浸料", "碳纤维复合材料", "海参", "预浸料"]) == ["预浸料"]


def test_userdict_command_builds_the_dictionary_from_the_lists(invoke, tmp_path):
    import json
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"id": "D1", "title": "铺层", "description": "预浸料铺层", "keywords": ["预浸料", "碳纤维复合材料"]},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    invoke("import", "demands", path)
    result = invoke("userdict", "-o", tmp_path / "userdict.txt")
    assert result.exit_code == 0 and "收录 1 个术语" in result.output
    assert (tmp_path / "userdict.txt").read_text(encoding="utf-8") == "预浸料\n"


# --- shared terms shown as reasons ---------------------------------------------------------------

def test_reason_terms_drop_filler_numbers_units_and_lone_letters(tokenizer):
    demand, supply = "刀具磨钝后误差0.5mm左右,温度80℃,o型圈漏油", "刀具磨损在线监测,精度0.1mm,耐温120℃,o型圈与pvc密封"
    shown = tokenizer.reason_terms(["刀具", "0.5", "mm", "左右", "c", "o", "pvc"], demand, supply)
    assert shown == ["刀具", "pvc"]


def test_reason_terms_drop_fragments_jieba_cut_across_other_words(tokenizer):
    # 焊接|机器人 and 对接|机构: 接机 only exists where jieba split an unknown neighbour
    assert tokenizer.reason_terms(["接机"], "焊接机器人", "对接机构") == []
    # 压|接机 and 级|进模: rare pieces with a lone character beside them
    assert tokenizer.reason_terms(["接机"], "压接机上没有监测", "在压接机上加装传感器") == []
    assert tokenizer.reason_terms(["进模"], "级进模设计靠经验", "级进模快速设计") == []


def test_reason_terms_keep_real_words_beside_single_characters_and_stop_at_the_limit(tokenizer):
    shown = tokenizer.reason_terms(["毫米波", "雷达", "跌倒"], "希望用毫米波雷达识别跌倒", "利用毫米波雷达检测跌倒", limit=2)
    assert shown == ["毫米波", "雷达"]
