"""The <audio>/<video> parser: HyperFrames' attributes → MediaClip, and every refusal."""

from __future__ import annotations

import json
import math
import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framerun_service.core.errors import FramerunError, MediaInvalidError
from framerun_service.render.media import MAX_VOLUME, MediaClip, parse_media_clips
from framerun_service.render.sitepath import site_path


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
        ('data-playback-start="2"', 2.0),
        ('data-media-start="1"', 1.0),  # the older name
        ('data-media-start="1" data-playback-start="2"', 2.0),  # playback-start wins, as in HF
        ('data-media-start="3" data-playback-start=""', 3.0),  # empty is absent
        ('data-media-start="later"', 0.0),  # unreadable or negative: no trim (HyperFrames)
        ('data-playback-start="-3"', 0.0),
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
        # muted is checked first: a muted element's other attributes do not matter
        '<video src="https://cdn.example/v.mp4" data-start="soon" muted></video>',
    ],
)
def test_silent_elements_are_skipped(element: str) -> None:
    assert parse_media_clips(doc(element + '<audio src="kept.wav"></audio>')) == (
        only('<audio src="kept.wav"></audio>'),
    )


def test_a_zero_duration_is_no_duration_as_in_hyperframes() -> None:
    """HyperFrames reads data-duration="0" as unset: the source plays to its end."""
    assert only('<audio src="a.wav" data-duration="0"></audio>').duration_s is None


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
        # Root-relative: the project folder is the site's root, wherever the HTML is.
        ("/media/clip.mp4", "index.html", "media/clip.mp4"),
        ("/media/clip.mp4", "scenes/intro.html", "media/clip.mp4"),
        ("/sfx/../a.wav", "scenes/intro.html", "a.wav"),
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
        ("/../a.mp3", "outside the site"),
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
        ('data-volume="5"', "use a gain from 0 to 1"),
        ('data-volume="-0.1"', "use a gain from 0 to 1"),
        ('data-volume="loud"', "use a gain from 0 to 1"),
        ('data-volume="50%"', "use a gain from 0 to 1"),
        ('data-playback-rate="2"', "remove it"),
        ('data-playback-rate="fast"', "only 1 is supported"),
    ],
)
def test_bad_numbers_are_refused(attrs: str, says: str) -> None:
    error = refused(f'<audio id="m" src="a.wav" {attrs}></audio>')
    assert error.message.startswith('<audio id="m"> on line 1')
    assert says in error.message


# Timing is HyperFrames' (timing.py): what it resolves silently renders the same here, and
# what is likely a slip is reported as a warning.
@pytest.mark.parametrize(
    ("attrs", "start", "duration", "warning"),
    [
        ('data-start="abc"', 0.0, None, "names #abc, which is not there"),
        ('data-start="1_0"', 0.0, None, "names #1_0"),  # an id, not Python's 10
        ('data-start="nan"', 0.0, None, "names #nan"),
        ('data-start="1.5s"', 0.0, None, "names #1.5s"),
        ('data-start="1e999"', 0.0, None, "names #1e999"),  # not finite: an id
        ('data-start="1,5"', 0.0, None, "neither seconds nor a clip id"),
        ('data-start="1 s"', 0.0, None, "neither seconds nor a clip id"),
        ('data-start="-1"', 0.0, None, "before the composition"),
        ('data-start=" 2 "', 2.0, None, None),
        ('data-start="0x10"', 16.0, None, None),  # JavaScript's Number(), as HyperFrames
        ('data-duration="-2"', 0.0, None, None),  # no length: the source plays to its end
        ('data-duration="inf"', 0.0, None, None),
        ('data-duration="0x10"', 0.0, 16.0, None),
        ('data-start="3" data-end="2"', 3.0, None, None),  # an end before the start: none
    ],
)
def test_timing_slips_resolve_as_hyperframes_does(
    attrs: str, start: float, duration: float | None, warning: str | None
) -> None:
    warnings: list[str] = []
    (clip,) = parse_media_clips(
        doc(f'<audio id="m" src="a.wav" {attrs}></audio>'), warnings=warnings
    )
    assert (clip.start_s, clip.duration_s) == (start, duration)
    if warning is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warnings[0].startswith("<audio id='m'>")
        assert warning in warnings[0]


@pytest.mark.parametrize(
    ("body", "start", "warning"),
    [
        ('<audio id="m" src="a.wav" data-start="nowhere"></audio>', 0.0, "#nowhere"),
        ('<audio id="m" src="a.wav" data-start="ghost + 1"></audio>', 0.0, "#ghost"),
        # A referenced clip without a length ends where it starts.
        (
            '<div id="intro" data-start="1"></div><audio id="m" src="a.wav" data-start="intro">',
            1.0,
            None,
        ),
        # A cycle: x -> y -> x counts y's reference to x as 0, so y = 1, x = 2, m = 3.
        (
            '<div id="x" data-start="y" data-duration="1"></div>'
            '<div id="y" data-start="x" data-duration="1"></div>'
            '<audio id="m" src="a.wav" data-start="x"></audio>',
            3.0,
            "reference cycle",
        ),
        (
            '<div id="intro" data-start="0" data-duration="1"></div>'
            '<audio id="m" src="a.wav" data-start="intro - 2"></audio>',
            0.0,
            "before the composition",
        ),
        (
            '<div data-composition-id="s" data-start="soon" data-duration="1">'
            '<audio id="m" src="a.wav"></audio></div>',
            0.0,
            "#soon",
        ),
    ],
)
def test_reference_slips_resolve_as_hyperframes_does(
    body: str, start: float, warning: str | None
) -> None:
    warnings: list[str] = []
    clips = {c.label.split('"')[1]: c for c in parse_media_clips(doc(body), warnings=warnings)}
    assert clips["m"].start_s == start
    assert any(warning in w for w in warnings) if warning else warnings == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('<audio id="m" data-start="1"></audio>', "has no src; add src="),
        ('<audio id="m" src="  "><source type="audio/ogg"></audio>', "has no src"),
    ],
)
def test_missing_sources_are_refused(body: str, says: str) -> None:
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
    (clip,) = clips
    duration = duration or None  # 0 is no length (HyperFrames)
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


# ---- sub-compositions ---------------------------------------------------------------------

SUB_FILES = {
    "compositions/scene.html": (
        '<template id="scene-template"><div data-composition-id="scene" data-start="9">\n'
        '<audio id="near" src="tone.wav" data-start="0.5" data-duration="1"></audio>\n'
        '<audio id="long" src="/sfx/boom.wav" data-start="1"></audio>\n'
        '<div data-composition-id="deep" data-composition-src="compositions/deep.html"'
        ' data-start="0.25"></div></div></template>'
        '<audio id="outside" src="never.wav"></audio>'
    ),
    "compositions/deep.html": '<template><audio id="up" src="../music.mp3"></audio></template>',
    "compositions/loop.html": (
        '<template><div data-composition-src="compositions/loop.html"></div>'
        '<audio id="once" src="a.wav"></audio></template>'
    ),
    "compositions/tone.wav": "",
    "sfx/boom.wav": "",
    "music.mp3": "",
}


def sub_clips(body: str) -> dict[str, MediaClip]:
    clips = parse_media_clips(doc(body), read=SUB_FILES.get, exists=lambda rel: rel in SUB_FILES)
    return {c.label.split('"')[1]: c for c in clips}


def test_sub_composition_clips_play_in_their_host_window() -> None:
    """The host starts at 3 s and lasts 2; the file's root keeps the host's timing (its own
    data-start is dropped, as HyperFrames flattens it); paths beside the file count."""
    host = (
        '<div data-composition-id="scene" data-composition-src="compositions/scene.html" '
        'data-start="3" data-duration="2"></div>'
    )
    clips = sub_clips(host)
    assert set(clips) == {"near", "long", "up"}  # not the <audio> outside the template
    assert (clips["near"].src, clips["near"].start_s, clips["near"].duration_s) == (
        "compositions/tone.wav",
        3.5,
        1.0,
    )
    assert (clips["long"].src, clips["long"].start_s, clips["long"].duration_s) == (
        "sfx/boom.wav",
        4.0,
        1.0,  # cut at the host's end
    )
    assert (clips["up"].src, clips["up"].start_s, clips["up"].duration_s) == (
        "music.mp3",
        3.25,
        1.75,
    )
    assert clips["near"].label == '<audio id="near"> on line 2 of compositions/scene.html'


def test_missing_and_self_including_sub_compositions_are_skipped() -> None:
    body = (
        '<div data-composition-src="compositions/missing.html"></div>'
        '<div data-composition-src="compositions/loop.html"></div>'
    )
    assert set(sub_clips(body)) == {"once"}
