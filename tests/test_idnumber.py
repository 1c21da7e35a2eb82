import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from processor.demo import valid_id
from processor.privacy import BAD_CHECKSUM, BAD_FORMAT, VALID, check_ids, mask_ids


@pytest.mark.parametrize(
    "number, status",
    [
        ("A123456789", VALID),  # the textbook example: 1+0+16+21+24+25+24+21+16+9*... sums to 130
        ("a123456789", VALID),
        ("Ａ１２３４５６７８９", VALID),
        ("A 123 456 789", VALID),
        ("A123456788", BAD_CHECKSUM),
        ("F131104093", VALID),
        ("A800000014", VALID),
        ("AC01234567", VALID),
        ("AC01234568", BAD_CHECKSUM),
        ("A323456789", BAD_FORMAT),
        ("A12345678", BAD_FORMAT),
        ("1234567890", BAD_FORMAT),
        ("AE12345678", BAD_FORMAT),
    ],
)
def test_national_and_resident_ids_by_checksum(number, status):
    assert check_ids(pd.Series([number]))[1].iloc[0] == status


def test_blank_ids_have_no_status():
    assert check_ids(pd.Series([None, ""]))[1].isna().all()


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_changing_the_check_digit_of_a_valid_id_invalidates_it(seed):
    number = valid_id(np.random.default_rng(seed))
    assert check_ids(pd.Series([number]))[1].iloc[0] == VALID
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert check_ids(pd.Series([wrong]))[1].iloc[0] == BAD_CHECKSUM


def test_masking_hides_the_middle_of_every_id():
    assert mask_ids(pd.Series(["A123456789"])).iloc[0] == "A12*****89"


def test_valid_ids_inside_any_text_are_masked_and_look_alikes_are_left_alone():
    from processor.privacy import mask_ids_in_text

    cells = pd.Series(
        [
            "A123456789",
            "證號：ａ１２３４５６７８９。",
            "訂單 A123456788",
            "AC01234567 與 F131104093",
            "XA1234567890",
            None,
            12,
        ],
        dtype=object,
    )
    assert mask_ids_in_text(cells).tolist() == [
        "A12*****89",
        "證號:A12*****89。",
        "訂單 A123456788",
        "AC0*****67 與 F13*****93",
        "XA1234567890",
        None,
        12,
    ]


def test_the_same_id_in_many_cells_and_either_case_is_masked_alike_everywhere():
    from processor.privacy import mask_ids_in_text

    cells = pd.Series(["a123456789 / A123456789", "A123456789", "f131104093 A123456788"] * 3, dtype=object)
    assert mask_ids_in_text(cells).tolist() == ["A12*****89 / A12*****89", "A12*****89", "F13*****93 A123456788"] * 3


def test_a_number_this_program_masked_before_is_recognised_as_masked():
    from processor.privacy import MASKED

    assert check_ids(pd.Series(["A12*****89", "AC0*****67"]))[1].tolist() == [MASKED, MASKED]
