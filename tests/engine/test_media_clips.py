"""The <audio>/<video> parser: HyperFrames' attributes → MediaClip, and every refusal."""

from __future__ import annotations

import json
import math
import posixpath

import pytest
from framerun_service.errors import FramerunError, MediaInvalidError
from framerun_service.render.media import MAX_VOLUME, MediaClip, parse_media_clips, site_path
from hypothesis import given
from hypothesis import strategies as st


def doc(body: str, *, root: str = 'data-duration="10"') -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8"></head>'
        f'<body data-composition-id="main" data-width="320" data-height="240" data-fps="30" '
        f"{root}>{body}</body></html>"
    )


def only(body: str, *, entry: str = "index.html", root: str = 'data-duration="10"') -> MediaClip:
    clips = parse_media_clips(doc(body, root=root), entry=entry)
    assert len(clips) == 1, clips
    return clips[0]


def refused(body: str, *, entry: str = "index.html") -> MediaInvalidError:
    with pytest.raises(MediaInvalidError) as info:
        parse_media_clips(doc(body), entry=entry)
    assert info.value.code == "MEDIA_INVALID"
    assert isinstance(info.value, FramerunError)
    return info.value


# ---- attribute forms --------------------------------------------------------------------


def test_every_timing_attribute() -> None:
    clip = only(
        '<audio id="music" src="audio/music.mp3" data-start="1.5" data-duration="4" '
        'data-media-start="0.25" data-volume="0.5" data-track-index="10" loop></audio>'
    )
    assert clip == MediaClip(
        kind="audio",
        label='<audio id="music"> on line 1',
        src="audio/music.mp3",
        start_s=1.5,
        duration_s=4.0,
        media_start_s=0.25,
        volume=0.5,
        loop=True,
    )


def test_defaults_play_the_whole_source_from_zero_at_full_volume() -> None:
    clip = only('<audio src="a.wav"></audio>')
    assert (clip.start_s, clip.duration_s, clip.media_start_s, clip.volume, clip.loop) == (
        0.0,
        None,
        0.0,
        1.0,
        False,
    )
    assert clip.label == '<audio src="a.wav"> on line 1'


@pytest.mark.parametrize(
    ("attrs", "media_start"),
    [
        ('data-playback-start="2"', 2.0),  # HyperFrames' fallback name
        ('data-media-start="1" data-playback-start="2"', 1.0),  # data-media-start wins
        ('data-media-start="" data-playback-start="3"', 3.0),  # empty is absent
    ],
)
def test_trim_attributes(attrs: str, media_start: float) -> None:
    assert only(f'<audio src="a.wav" {attrs}></audio>').media_start_s == media_start


@pytest.mark.parametrize(
    ("attrs", "duration"),
    [
        ('data-start="2" data-end="5"', 3.0),  # legacy data-end
        ('data-start="2" data-end="0"', None),  # HyperFrames reads end 0 as unset
        ('data-start="2" data-end="5" data-duration="1"', 1.0),  # data-duration wins
        ('data-duration="0.25"', 0.25),
    ],
)
def test_duration_attributes(attrs: str, duration: float | None) -> None:
    assert only(f'<audio src="a.wav" {attrs}></audio>').duration_s == duration


@pytest.mark.parametrize(
    ("start", "expected"),
    [("intro", 3.0), ("intro + 2", 5.0), ("intro+0.5", 3.5), ("intro - 0.5", 2.5), ("v2", 6.0)],
)
def test_start_can_reference_another_clip_end(start: str, expected: float) -> None:
    body = (
        '<div id="intro" class="clip" data-start="1" data-duration="2"></div>'
        '<div id="v2" class="clip" data-start="intro + 1" data-duration="2"></div>'
        f'<audio src="a.wav" data-start="{start}"></audio>'
    )
    assert only(body).start_s == expected


def test_an_id_with_a_dash_is_an_id_when_one_exists() -> None:
    body = (
        '<div id="intro" data-start="0" data-duration="1"></div>'
        '<div id="intro-2" data-start="5" data-duration="1"></div>'
        '<audio src="a.wav" data-start="intro-2"></audio>'
        '<audio src="b.wav" data-start="intro -0.5"></audio>'
    )
    assert [c.start_s for c in parse_media_clips(doc(body))] == [6.0, 0.5]


def test_volume_up_to_hyperframes_gain_ceiling() -> None:
    assert only('<audio src="a.wav" data-volume="2"></audio>').volume == 2.0
    assert round(MAX_VOLUME, 3) == 3.981


@pytest.mark.parametrize(
    "element",
    [
        '<video src="v.mp4" muted></video>',
        '<audio src="a.wav" muted></audio>',
        '<audio src="a.wav" data-volume="0"></audio>',
        '<audio src="a.wav" data-volume="0.000"></audio>',
        '<audio src="a.wav" data-hidden></audio>',
        '<div data-hidden><audio src="a.wav"></audio></div>',
        '<video src="v.mp4" data-has-audio="false"></video>',
        '<audio src="a.wav" data-duration="0"></audio>',
        # muted is checked first: a muted element's other attributes do not matter
        '<video src="https://cdn.example/v.mp4" data-start="soon" muted></video>',
    ],
)
def test_silent_elements_are_skipped(element: str) -> None:
    assert parse_media_clips(doc(element + '<audio src="kept.wav"></audio>')) == (
        only('<audio src="kept.wav"></audio>'),
    )


def test_an_unmuted_video_is_a_clip() -> None:
    clip = only('<video id="v" src="clips/a.mp4" data-start="2" data-has-audio="true"></video>')
    assert (clip.kind, clip.src, clip.start_s) == ("video", "clips/a.mp4", 2.0)


@pytest.mark.parametrize(
    ("element", "src"),
    [
        ('<audio><source src="a.ogg" type="audio/ogg"><source src="a.mp3"></audio>', "a.ogg"),
        ('<audio><source type="audio/ogg"><source src="b.mp3"></audio>', "b.mp3"),
        ('<video src="own.mp4"><source src="other.mp4"></video>', "own.mp4"),
        ('<video><source src="v.webm"/></video>', "v.webm"),
    ],
)
def test_source_children(element: str, src: str) -> None:
    assert only(element).src == src


@pytest.mark.parametrize(
    ("raw", "entry", "expected"),
    [
        ("a.wav", "index.html", "a.wav"),
        ("./sfx/../a.wav", "index.html", "a.wav"),
        ("a.wav", "scenes/intro.html", "scenes/a.wav"),
        ("../a.wav", "scenes/intro.html", "a.wav"),  # up, but still inside the site
        ("my%20song.mp3?v=3#t=1", "index.html", "my song.mp3"),
        ("  a.wav  ", "index.html", "a.wav"),
    ],
)
def test_src_resolves_against_the_entry_folder(raw: str, entry: str, expected: str) -> None:
    assert only(f'<audio src="{raw}"></audio>', entry=entry).src == expected


def test_nested_composition_hosts_offset_and_cut_their_clips() -> None:
    body = (
        '<div id="scene" data-composition-id="scene" data-start="2" data-duration="3">'
        "<template>"
        '<audio id="inner" src="a.wav" data-start="1"></audio>'
        '<audio id="long" src="b.wav" data-start="0" data-duration="10"></audio>'
        '<audio id="late" src="c.wav" data-start="4"></audio>'
        '<audio id="global" src="d.wav" data-start="1" data-hf-media-start-basis="global">'
        "</audio></template></div>"
    )
    clips = {c.label.split('"')[1]: c for c in parse_media_clips(doc(body))}
    assert set(clips) == {"inner", "long", "global"}  # "late" starts after the scene ends
    assert (clips["inner"].start_s, clips["inner"].duration_s) == (3.0, 2.0)
    assert (clips["long"].start_s, clips["long"].duration_s) == (2.0, 3.0)
    assert (clips["global"].start_s, clips["global"].duration_s) == (1.0, 4.0)


def test_the_root_duration_is_no_window() -> None:
    # --duration may make the video longer than the root's data-duration.
    clip = only('<audio src="a.wav" loop></audio>', root='data-duration="2"')
    assert clip.duration_s is None


def test_clips_come_in_document_order_with_lines() -> None:
    body = '<audio id="a" src="a.wav"></audio>\n<p>text\n<video id="b" src="b.mp4"></video>'
    clips = parse_media_clips(doc(body))
    assert [c.label for c in clips] == ['<audio id="a"> on line 1', '<video id="b"> on line 3']


def test_media_in_scripts_is_not_parsed() -> None:
    body = "<script>document.body.innerHTML = '<audio src=\"http://x/a.mp3\">';</script>"
    assert parse_media_clips(doc(body)) == ()


def test_json_shape_and_round_trip() -> None:
    clip = only('<audio id="m" src="m.mp3" data-start="1" data-media-start="2" loop></audio>')
    assert clip.to_json() == {
        "kind": "audio",
        "label": '<audio id="m"> on line 1',
        "src": "m.mp3",
        "start": 1.0,
        "duration": None,
        "mediaStart": 2.0,
        "volume": 1.0,
        "loop": True,
    }
    assert MediaClip.from_json(json.loads(json.dumps(clip.to_json()))) == clip


# ---- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "says"),
    [
        ("https://cdn.example.com/a.mp3", "a URL"),
        ("http://example.com/a.mp3", "a URL"),
        ("HTTP://EXAMPLE.COM/a.mp3", "a URL"),
        ("//cdn.example.com/a.mp3", "a URL"),
        ("data:audio/wav;base64,UklGRg==", "a data: URL"),
        ("blob:https://x/1", "a URL"),
        ("file:///etc/passwd", "a URL"),
        ("C:/music/a.mp3", "a URL"),
        ("/abs/a.mp3", "absolute path"),
        ("../a.mp3", "outside the site"),
        ("sfx/../../a.mp3", "outside the site"),
        ("%2E%2E/a.mp3", "outside the site"),
        ("..", "outside the site"),
        (".", "outside the site"),
        ("sfx\\a.mp3", "not a usable file path"),
        ("?v=1", "not a usable file path"),
    ],
)
def test_sources_outside_the_site_are_refused(src: str, says: str) -> None:
    error = refused(f'<audio id="m" src="{src}"></audio>')
    assert '<audio id="m"> on line 1' in error.message
    assert says in error.message
    assert "relative path" in error.message  # the fix


@pytest.mark.parametrize(
    ("attrs", "says"),
    [
        ('data-start="abc"', 'data-start="abc" refers to #abc, which is not in the document'),
        ('data-start="1_0"', "refers to #1_0, which is not"),  # an id, not Python's 10
        ('data-start="nan"', "refers to #nan, which is not"),
        ('data-start="1.5s"', "refers to #1.5s, which is not"),
        ('data-start="1,5"', "not a number of seconds or a clip reference"),
        ('data-start="-1"', "use a number of seconds ≥ 0"),
        ('data-start="1e999"', "use a number of seconds ≥ 0"),
        ('data-start="1 s"', "not a number of seconds"),
        ('data-duration="-2"', 'data-duration="-2" is invalid'),
        ('data-duration="inf"', 'data-duration="inf" is invalid'),
        ('data-duration="0x10"', 'data-duration="0x10" is invalid'),
        ('data-media-start="later"', 'data-media-start="later" is invalid'),
        ('data-playback-start="-3"', 'data-playback-start="-3" is invalid'),
        ('data-volume="5"', "use a gain from 0 to 1"),
        ('data-volume="-0.1"', "use a gain from 0 to 1"),
        ('data-volume="loud"', "use a gain from 0 to 1"),
        ('data-volume="50%"', "use a gain from 0 to 1"),
        ('data-start="3" data-end="2"', "is before its start"),
        ('data-playback-rate="2"', "remove it"),
        ('data-playback-rate="fast"', "only 1 is supported"),
    ],
)
def test_bad_numbers_are_refused(attrs: str, says: str) -> None:
    error = refused(f'<audio id="m" src="a.wav" {attrs}></audio>')
    assert error.message.startswith('<audio id="m"> on line 1')
    assert says in error.message


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('<audio id="m" data-start="1"></audio>', "has no src; add src="),
        ('<audio id="m" src="  "><source type="audio/ogg"></audio>', "has no src"),
        ('<audio id="m" src="a.wav" data-start="nowhere"></audio>', "#nowhere, which is not"),
        ('<audio id="m" src="a.wav" data-start="ghost + 1"></audio>', "#ghost, which is not"),
        (
            '<div id="intro" data-start="0"></div><audio id="m" src="a.wav" data-start="intro">',
            "#intro has no data-duration; add one",
        ),
        (
            '<div id="x" data-start="y" data-duration="1"></div>'
            '<div id="y" data-start="x" data-duration="1"></div>'
            '<audio id="m" src="a.wav" data-start="x"></audio>',
            "reference cycle",
        ),
        (
            '<div id="intro" data-start="0" data-duration="1"></div>'
            '<audio id="m" src="a.wav" data-start="intro - 2"></audio>',
            "before the composition starts",
        ),
        (
            '<div data-composition-id="s" data-start="soon" data-duration="1">'
            '<audio id="m" src="a.wav"></audio></div>',
            '<div> on line 1: data-start="soon" refers to #soon',
        ),
    ],
)
def test_bad_timing_and_missing_sources_are_refused(body: str, says: str) -> None:
    assert says in refused(body).message


def test_the_error_names_the_element_on_its_own_line() -> None:
    body = '<audio id="ok" src="a.wav"></audio>\n\n<video src="http://x/v.mp4"></video>'
    error = refused(body)
    assert error.message.startswith('<video src="http://x/v.mp4"> on line 3')
    assert error.to_json()["error"]["code"] == "MEDIA_INVALID"


# ---- properties ---------------------------------------------------------------------------

finite = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(start=finite, duration=finite, media_start=finite, volume=st.floats(0.001, 1.0))
def test_numbers_round_trip_exactly(
    start: float, duration: float, media_start: float, volume: float
) -> None:
    clips = parse_media_clips(
        doc(
            f'<audio src="a.wav" data-start="{start!r}" data-duration="{duration!r}" '
            f'data-media-start="{media_start!r}" data-volume="{volume!r}"></audio>'
        )
    )
    if duration == 0:
        assert clips == ()
        return
    (clip,) = clips
    assert (clip.start_s, clip.duration_s, clip.media_start_s, clip.volume) == (
        start,
        duration,
        media_start,
        volume,
    )
    assert MediaClip.from_json(json.loads(json.dumps(clip.to_json()))) == clip


@given(
    raw=st.text(alphabet=st.sampled_from("ab./\\:%2E?#~ -_"), max_size=16),
    folder=st.sampled_from(["", "scenes", "a/b"]),
)
def test_a_src_never_escapes_the_site(raw: str, folder: str) -> None:
    try:
        path = site_path(raw, base=folder)
    except MediaInvalidError as exc:
        assert exc.code == "MEDIA_INVALID"
        return
    assert path == posixpath.normpath(path)
    assert not path.startswith(("/", "../")) and path not in ("", ".", "..")
    assert "\\" not in path and "://" not in path


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_volume_is_either_in_range_or_refused(volume: float) -> None:
    try:
        clips = parse_media_clips(doc(f'<audio src="a.wav" data-volume="{volume!r}"></audio>'))
    except MediaInvalidError:
        assert not (0 <= volume <= MAX_VOLUME) or not math.isfinite(volume)
        return
    assert all(0 < c.volume <= MAX_VOLUME for c in clips)
    assert len(clips) == (0 if volume == 0 else 1)
