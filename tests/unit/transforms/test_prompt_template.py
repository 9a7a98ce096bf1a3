"""--prompt_template's rule: {field} and {a.b} placeholders, {{ and }} for
literal braces, every other brace left alone."""
import pytest

from transforms import prompt_template
from transforms.prompt_template import TemplateError, fill


def test_json_braces_are_left_alone_and_doubled_braces_are_literal():
    assert fill('Answer as {"label": ...} for {review} {{x}}', {"review": "good"}) == \
        'Answer as {"label": ...} for good {x}'


def test_dotted_paths_numbers_and_lists():
    record = {"meta": {"title": "Kettle", "stars": 4}, "tags": ["a", "b"], "x.y": "dot"}
    assert fill("{meta.title} {meta.stars} {tags} {x.y}", record) == 'Kettle 4 ["a", "b"] dot'
    assert prompt_template.fields("{a} {b.c} {{d}}") == ["a", "b.c"]


@pytest.mark.parametrize("record, reason", [
    ({"review": None}, "field 'review' is null"),
    ({}, "field 'review' is missing"),
    ({"review": " "}, "empty once the template is filled"),
])
def test_a_record_that_cannot_fill_it_is_refused_with_the_field(record, reason):
    with pytest.raises(TemplateError, match=reason):
        fill("{review}", record)
