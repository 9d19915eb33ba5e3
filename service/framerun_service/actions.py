"""The three Actions: fetch inputs from Cloud Storage, call the engine, upload, reply small.

Every Action is idempotent. Objects are written with a generation precondition
(create-only), so a retried or duplicated request never overwrites a good
object; an object that already exists with the expected plan hash is reused
instead of rendered again. The final output is written last, once every chunk
has been verified. Temporary files live in a per-request folder.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framerun_service.core.errors import (
    ChunkMismatchError,
    InvalidConfigError,
    PlanHashMismatchError,
)
from framerun_service.core.storage import Storage
from framerun_service.core.wire import (
    PLAN_HASH_METADATA,
    AssembleReply,
    AssembleRequest,
    ChunkRecord,
    ChunkReply,
    PlanEnvelope,
    PlanReply,
    PlanRequest,
    RenderChunkRequest,
    ResultRecord,
    chunk_record_uri,
    chunk_uri,
    plan_uri,
    result_uri,
)
from framerun_service.engine_state import Engine

if TYPE_CHECKING:  # the engine loads lazily: a plan Action must not pay for PyAV at import
    from framerun_service.render.assemble import AssembleResult
    from framerun_service.render.plan import ChunkSpec, Plan

JSON = "application/json"
log = logging.getLogger("framerun.plan")


# ---- plan -----------------------------------------------------------------------------


def plan_request(storage: Storage, body: dict[str, Any], *, bucket: str) -> PlanRequest:
    """The plan request, inline or by reference (``requestUri``, as the workflow sends it).

    The SDK stores the full request (site, output, config with variables up to
    512 KiB) as an object because the Executions API caps an argument at 32 KB.
    """
    if "requestUri" in body:
        from framerun_service.core.errors import InvalidRequestError
        from framerun_service.core.wire import gs_uri_field

        stored = storage.read_json(gs_uri_field(body, "requestUri", bucket))
        if not isinstance(stored, dict):
            raise InvalidRequestError("the request object must hold a JSON object")
        body = {**stored, "Action": body.get("Action"), "renderId": body.get("renderId")}
    return PlanRequest.from_json(body, bucket=bucket)


def plan(storage: Storage, engine: Engine, req: PlanRequest, *, bucket: str) -> dict[str, Any]:
    """Plan a render, prove the page renders here, and store plan.json once.

    The probe runs before anything is stored, so a composition that cannot render
    (fonts, GPU, network guard) fails before any chunk fans out.
    """
    from framerun_service.render.chunk import page_spec
    from framerun_service.render.fanout import chunk_groups
    from framerun_service.render.probe import probe_composition

    started = time.perf_counter()
    the_plan, site, warnings = _make_plan(storage, engine, req)
    # Fonts, the GPU and the network guard fail here, before any chunk fans out.
    probe_composition(
        engine.session(), page_spec(the_plan, site), last_frame=the_plan.frame_end - 1
    )
    seconds = round(time.perf_counter() - started, 3)
    uri = _store_plan(storage, req, the_plan, seconds=seconds, bucket=bucket)
    return PlanReply(
        plan_uri=uri,
        plan_hash=the_plan.plan_hash,
        total_frames=the_plan.total_frames,
        chunk_count=len(the_plan.chunks),
        output_uri=req.output_uri,
        max_parallel_chunks=the_plan.max_parallel_chunks,
        warnings=warnings,
        groups=[
            group.to_json()
            for group in chunk_groups(len(the_plan.chunks), the_plan.max_parallel_chunks)
        ],
    ).to_json()


def _make_plan(storage: Storage, engine: Engine, req: PlanRequest) -> tuple[Plan, Path, list[str]]:
    """The plan of the request's site and config, the extracted site, and the warnings.

    Everything that decides the output goes into the plan (and its hash): the site's
    tree hash, this build's browser and font set, the clips to mix, the encoder.
    """
    from framerun_service.render.beginframe import capture_method
    from framerun_service.render.chrome import browser_version
    from framerun_service.render.composition import load_composition
    from framerun_service.render.config import RenderConfig
    from framerun_service.render.fontset import fontset_version
    from framerun_service.render.media import composition_clips
    from framerun_service.render.plan import make_plan
    from framerun_service.render.settings import engine_settings
    from framerun_service.render.site import site_tree_hash

    config = RenderConfig.from_json(req.config)
    max_parallel_chunks = _parallel_chunks(config.max_parallel_chunks, engine.max_instances)
    site = engine.site(storage, req.site_uri)
    comp = load_composition(site, entry=config.composition, overrides=config.overrides())
    encoder = config.encoder(comp.fps)
    _check_output_name(req.output_uri, encoder.container)
    warnings = list(comp.warnings)
    the_plan = make_plan(
        comp,
        encoder,
        site_hash=site_tree_hash(site),
        browser_version=browser_version(),
        font_set=fontset_version(),
        frames=config.frames,
        chunk_size=config.chunk_size,
        target_chunk_frames=config.target_chunk_frames,
        max_parallel_chunks=max_parallel_chunks,
        instance_vcpus=engine.chunk_pages,  # one page per vCPU: the instance's size
        audio=composition_clips(comp, warnings=warnings),
        jpeg_quality=engine_settings().jpeg_quality,
        chrome_args=engine_settings().extra_chrome_args,
        capture_method=capture_method(site, engine_settings().capture_method),
    )
    log.info("render %s: %s", req.render_id, the_plan.chunk_sizing)
    return the_plan, site, warnings


def _parallel_chunks(asked: int | None, max_instances: int | None) -> int:
    """maxParallelChunks as asked, or by default DEFAULT_MAX_PARALLEL_CHUNKS capped at the
    service's instances: automatic chunk sizing spreads a render over this many chunks,
    and more chunks than instances only queue (one instance renders one at a time)."""
    from framerun_service.render.plan import DEFAULT_MAX_PARALLEL_CHUNKS

    if asked is None:
        return min(DEFAULT_MAX_PARALLEL_CHUNKS, max_instances or DEFAULT_MAX_PARALLEL_CHUNKS)
    _check_instances(asked, max_instances)
    return asked


def _check_instances(max_parallel_chunks: int, max_instances: int | None) -> None:
    """Refuse more chunks at once than the service has instances: the rest would wait for
    an instance, be refused with 429 and burn their retries."""
    if max_instances is not None and max_parallel_chunks > max_instances:
        instances = f"{max_instances} instance{'' if max_instances == 1 else 's'}"
        raise InvalidConfigError(
            f"maxParallelChunks {max_parallel_chunks} is more than this service's "
            f"{instances} (one chunk each); lower maxParallelChunks to "
            f"{max_instances}, or raise the service's max_instance_count (Terraform) "
            f"to {max_parallel_chunks}"
        )


def _store_plan(
    storage: Storage, req: PlanRequest, the_plan: Plan, *, seconds: float, bucket: str
) -> str:
    """Write plan.json once (create-only) and answer its URI.

    A retried plan finds its own object and reuses it; an object planned from other
    inputs under the same renderId is refused rather than overwritten.
    """
    envelope = PlanEnvelope(
        render_id=req.render_id,
        site_uri=req.site_uri,
        output_uri=req.output_uri,
        plan=the_plan.to_json(),
        seconds=seconds,
    )
    uri = plan_uri(bucket, req.render_id)
    created = storage.upload_bytes_if_absent(
        json.dumps(envelope.to_json(), sort_keys=True).encode(),
        uri,
        content_type=JSON,
        metadata={PLAN_HASH_METADATA: the_plan.plan_hash},
    )
    if not created and _read_envelope(storage, uri).plan_hash != the_plan.plan_hash:
        raise PlanHashMismatchError(
            f"render {req.render_id} was already planned with different inputs; use a new renderId"
        )
    return uri


def _check_output_name(output_uri: str, container: str) -> None:
    """An output named .webm must hold WebM: refuse a name of another format."""
    from framerun_service.render.encoding import EXTENSIONS

    suffix = output_uri.rsplit("/", 1)[-1].rpartition(".")[2].lower()
    known = set(EXTENSIONS.values())
    if suffix in known and suffix != EXTENSIONS[container]:
        raise InvalidConfigError(
            f"output {output_uri} is named .{suffix} but the format is {container}; "
            f"name it .{EXTENSIONS[container]} or set format to match"
        )


def _read_envelope(storage: Storage, uri: str) -> PlanEnvelope:
    from framerun_service.core.errors import InvalidRequestError

    try:
        return PlanEnvelope.from_json(storage.read_json(uri))
    except InvalidRequestError:
        raise InvalidRequestError(
            f"{uri} is not a plan; pass the planUri the plan Action answered"
        ) from None


def _load_plan(storage: Storage, uri: str, expected_hash: str) -> tuple[Plan, PlanEnvelope]:
    """Read plan.json and refuse it unless its content, the request and this build agree."""
    from framerun_service.core.version import ENGINE_VERSION
    from framerun_service.render.chrome import browser_version
    from framerun_service.render.fontset import fontset_version
    from framerun_service.render.plan import Plan
    from framerun_service.render.settings import engine_settings

    envelope = _read_envelope(storage, uri)
    try:
        the_plan = Plan.from_json(envelope.plan)
    except (KeyError, TypeError, ValueError):
        from framerun_service.core.errors import InvalidRequestError

        raise InvalidRequestError(
            f"{uri} is not a plan; pass the planUri the plan Action answered"
        ) from None
    if the_plan.plan_hash != expected_hash or the_plan.compute_hash() != expected_hash:
        raise PlanHashMismatchError(
            f"plan {uri} does not match planHash {expected_hash[:12]}…; plan the render again"
        )
    if the_plan.engine_version != ENGINE_VERSION or the_plan.browser_version != browser_version():
        raise PlanHashMismatchError(
            f"plan was made by engine {the_plan.engine_version} / {the_plan.browser_version}, "
            f"this instance runs {ENGINE_VERSION} / {browser_version()}; deploy one image"
        )
    if the_plan.chrome_args != engine_settings().extra_chrome_args:
        raise PlanHashMismatchError(
            f"plan was made with FRAMERUN_CHROME_ARGS {list(the_plan.chrome_args)}, this "
            f"instance has {list(engine_settings().extra_chrome_args)}; deploy one configuration"
        )
    if the_plan.font_set != fontset_version():
        raise PlanHashMismatchError(
            f"plan was made with font set {the_plan.font_set[:12]}…, this instance has "
            f"{fontset_version()[:12]}…; deploy one image"
        )
    return the_plan, envelope


# ---- renderChunk ----------------------------------------------------------------------


def render_chunk(
    storage: Storage, engine: Engine, req: RenderChunkRequest, *, bucket: str
) -> dict[str, Any]:
    from framerun_service.render.chunk import chunk_tag
    from framerun_service.render.chunk import render_chunk as render

    the_plan, envelope = _load_plan(storage, req.plan_uri, req.plan_hash)
    if req.chunk_index >= len(the_plan.chunks):
        from framerun_service.core.errors import InvalidRequestError

        raise InvalidRequestError(
            f"chunkIndex {req.chunk_index} is out of range; the plan has {len(the_plan.chunks)}"
        )
    spec = the_plan.chunks[req.chunk_index]
    uri = chunk_uri(bucket, req.render_id, spec.index, the_plan.encoder.extension)
    if _has_plan_hash(storage, uri, req.plan_hash):
        # A first attempt may have died between the upload and its record: repair it.
        record = ChunkRecord(spec.index, spec.frames, 0.0, spec.start, spec.end)
        _write_record(
            storage, chunk_record_uri(bucket, req.render_id, spec.index), record, req.plan_hash
        )
        return ChunkReply(record, cached=True).to_json()
    started = time.perf_counter()
    site = engine.site(storage, envelope.site_uri, the_plan.site_hash)
    with tempfile.TemporaryDirectory(dir=engine.scratch()) as tmp:
        out = Path(tmp) / f"chunk.{the_plan.encoder.extension}"
        result = render(
            engine.session(), the_plan, spec, site, out, extra_pages=engine.extra_pages()
        )
        seconds = time.perf_counter() - started
        created = storage.upload_file_if_absent(
            out,
            uri,
            content_type=the_plan.encoder.content_type,
            metadata={PLAN_HASH_METADATA: req.plan_hash, "framerun-tag": chunk_tag(req.plan_hash)},
        )
    if not created and not _has_plan_hash(storage, uri, req.plan_hash):
        raise ChunkMismatchError(f"{uri} exists from another plan; use a new renderId")
    record = ChunkRecord(spec.index, result.frames, round(seconds, 3), spec.start, spec.end)
    _write_record(
        storage, chunk_record_uri(bucket, req.render_id, spec.index), record, req.plan_hash
    )
    return ChunkReply(record, cached=not created).to_json()


# ---- assemble -------------------------------------------------------------------------


def assemble(
    storage: Storage, engine: Engine, req: AssembleRequest, *, bucket: str
) -> dict[str, Any]:
    from framerun_service.render.encoding import PNG_SEQUENCE

    the_plan, envelope = _load_plan(storage, req.plan_uri, req.plan_hash)
    if req.chunk_count != len(the_plan.chunks):
        raise PlanHashMismatchError(
            f"chunkCount {req.chunk_count} does not match the plan's {len(the_plan.chunks)}"
        )
    existing = storage.stat(req.output_uri)
    if existing is not None and existing.metadata.get(PLAN_HASH_METADATA) == req.plan_hash:
        # Done before (maybe by an attempt that died before its record): repair the record.
        _write_record(
            storage,
            result_uri(bucket, req.render_id),
            ResultRecord(req.output_uri, existing.size, the_plan.total_frames, 0.0, req.plan_hash),
            req.plan_hash,
        )
        return AssembleReply(req.output_uri, existing.size, 0.0, cached=True).to_json()
    if existing is not None:
        raise ChunkMismatchError(
            f"{req.output_uri} already exists and is not this render's output; "
            "choose another output key"
        )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=engine.scratch()) as tmp:
        out = Path(tmp) / f"output.{the_plan.encoder.extension}"
        if the_plan.encoder.container == PNG_SEQUENCE:
            result = _concat_png_tars(storage, the_plan, req, Path(tmp), out, bucket=bucket)
        else:
            result = _join_encoded_chunks(
                storage, engine, the_plan, envelope, req, Path(tmp), out, bucket=bucket
            )
        if result.frames != the_plan.total_frames:
            raise ChunkMismatchError(
                f"assembled {result.frames} frames, the plan has {the_plan.total_frames}"
            )
        storage.upload_file_if_absent(
            out,
            req.output_uri,
            content_type=the_plan.encoder.content_type,
            metadata={PLAN_HASH_METADATA: req.plan_hash},
        )
    seconds = time.perf_counter() - started
    record = ResultRecord(
        req.output_uri, result.bytes, result.frames, round(seconds, 3), req.plan_hash
    )
    _write_record(storage, result_uri(bucket, req.render_id), record, req.plan_hash)
    return AssembleReply(req.output_uri, result.bytes, round(seconds, 3), cached=False).to_json()


def _chunk_object(
    storage: Storage, the_plan: Plan, req: AssembleRequest, spec: ChunkSpec, bucket: str
) -> str:
    """The chunk's object, refused unless it was rendered from this plan."""
    uri = chunk_uri(bucket, req.render_id, spec.index, the_plan.encoder.extension)
    if not _has_plan_hash(storage, uri, req.plan_hash):
        raise ChunkMismatchError(f"chunk {spec.index} ({uri}) is missing or from another plan")
    return uri


def _join_encoded_chunks(
    storage: Storage,
    engine: Engine,
    the_plan: Plan,
    envelope: PlanEnvelope,
    req: AssembleRequest,
    tmp: Path,
    out: Path,
    *,
    bucket: str,
) -> AssembleResult:
    """The encoded chunks joined into the output, with the sound mixed in if there is any.

    Every chunk is fetched first: joining and muxing need them all at once.
    """
    from framerun_service.render.finish import finish_render

    paths = []
    for spec in the_plan.chunks:
        path = tmp / f"{spec.index:05d}.{the_plan.encoder.extension}"
        storage.download_to(_chunk_object(storage, the_plan, req, spec, bucket), path)
        paths.append(path)
    # The audio sources are site files: the site is fetched only when there is sound.
    site = engine.site(storage, envelope.site_uri, the_plan.site_hash) if the_plan.audio else tmp
    return finish_render(the_plan, paths, out, site_dir=site, work_dir=tmp)


def _concat_png_tars(
    storage: Storage, the_plan: Plan, req: AssembleRequest, tmp: Path, out: Path, *, bucket: str
) -> AssembleResult:
    """A PNG sequence's chunk tars into one tar, fetching and dropping one chunk at a time.

    The work folder is memory on Cloud Run, and PNG chunks are large: holding
    every chunk and the output at once would need twice the sequence's size.
    """
    from framerun_service.render.assemble import AssembleResult
    from framerun_service.render.chunk import chunk_tag
    from framerun_service.render.pngseq import PngSequenceTar

    output = PngSequenceTar(out, plan_tag=chunk_tag(req.plan_hash))
    try:
        for spec in the_plan.chunks:
            path = tmp / f"{spec.index:05d}.tar"
            storage.download_to(_chunk_object(storage, the_plan, req, spec, bucket), path)
            output.append_chunk(path)
            path.unlink()
        output.close()
    except BaseException:
        output.abort()
        raise
    frames = output.frames
    return AssembleResult(out, frames, out.stat().st_size, float(frames / the_plan.fps))


def _write_record(
    storage: Storage, uri: str, record: ChunkRecord | ResultRecord, plan_hash: str
) -> None:
    """Create a small JSON record once; an existing one is left as it is."""
    storage.upload_bytes_if_absent(
        json.dumps(record.to_json()).encode(),
        uri,
        content_type=JSON,
        metadata={PLAN_HASH_METADATA: plan_hash},
    )


def _has_plan_hash(storage: Storage, uri: str, plan_hash: str) -> bool:
    info = storage.stat(uri)
    return info is not None and info.metadata.get(PLAN_HASH_METADATA) == plan_hash
