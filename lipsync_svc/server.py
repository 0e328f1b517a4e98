"""LipsyncService: converts protobuf to plain Python and back; the work happens elsewhere."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from vtutor.common.v1 import media_pb2, speech_pb2
from vtutor.lipsync.v1 import lipsync_pb2, lipsync_pb2_grpc

from lipsync_svc.animation import DEFAULT_FPS, AnimatedFrame, Animation, AudioInput
from lipsync_svc.avatar import AvatarInfo, AvatarOptions, AvatarSpec
from lipsync_svc.avatar_builder import BuildProgress
from lipsync_svc.avatar_creation import AvatarCreator
from lipsync_svc.avatar_store import AvatarStore
from lipsync_svc.config import LipsyncSettings
from lipsync_svc.engines import ENGINES, create_engine
from lipsync_svc.engines.base import LipsyncEngine
from lipsync_svc.frames import (
    MAX_OUTPUT_SIDE,
    MIN_OUTPUT_SIDE,
    FrameEncoder,
    PixelFormat,
    output_size,
)
from lipsync_svc.mouth import Viseme, VisemeSpan
from lipsync_svc.talking_sample import render_talking_sample
from svc_core.audio import check_sample_rate
from svc_core.errors import InvalidArgument, ResourceExhausted, Unavailable
from svc_core.server import ServiceBinding, ServiceParts
from svc_core.streams import split_config

logger = logging.getLogger(__name__)

MAX_FPS = 60

_PIXEL_FORMATS = {
    media_pb2.PIXEL_FORMAT_UNSPECIFIED: PixelFormat.I420,
    media_pb2.PIXEL_FORMAT_I420: PixelFormat.I420,
    media_pb2.PIXEL_FORMAT_JPEG: PixelFormat.JPEG,
    media_pb2.PIXEL_FORMAT_RGB24: PixelFormat.RGB24,
}
_VISEMES = {speech_pb2.Viseme.Value(f"VISEME_{v.value}"): v for v in Viseme}
_PIXEL_FORMAT_PROTO = {
    PixelFormat.I420: media_pb2.PIXEL_FORMAT_I420,
    PixelFormat.JPEG: media_pb2.PIXEL_FORMAT_JPEG,
    PixelFormat.RGB24: media_pb2.PIXEL_FORMAT_RGB24,
}


def _pixel_format(value: int) -> PixelFormat:
    if value not in _PIXEL_FORMATS:
        raise InvalidArgument(f"unknown pixel format {value}: use I420, JPEG or RGB24")
    return _PIXEL_FORMATS[value]


def _side(name: str, value: int) -> int:
    if value and (value % 2 or not MIN_OUTPUT_SIDE <= value <= MAX_OUTPUT_SIDE):
        raise InvalidArgument(
            f"{name} {value} must be 0 or even and {MIN_OUTPUT_SIDE}-{MAX_OUTPUT_SIDE}"
        )
    return value


def _fps(value: int, default: int) -> int:
    fps = value or default
    if not 1 <= fps <= MAX_FPS:
        raise InvalidArgument(f"fps {fps} is outside 1-{MAX_FPS}")
    return fps


def _encoder(
    info: AvatarInfo, pixel_format: int, width: int, height: int, quality: int
) -> FrameEncoder:
    w, h = output_size(info.width, info.height, _side("width", width), _side("height", height))
    return FrameEncoder(_pixel_format(pixel_format), w, h, quality)


def _video_frame(image: bytes, encoder: FrameEncoder, pts_us: int) -> media_pb2.VideoFrame:
    return media_pb2.VideoFrame(
        width=encoder.width,
        height=encoder.height,
        pixel_format=_PIXEL_FORMAT_PROTO[encoder.pixel_format],
        data=image,
        pts_us=pts_us,
    )


def avatar_proto(info: AvatarInfo) -> lipsync_pb2.Avatar:
    """An AvatarInfo as the Avatar message."""
    created = Timestamp()
    created.FromDatetime(info.create_time)
    return lipsync_pb2.Avatar(
        avatar_id=info.avatar_id,
        display_name=info.display_name,
        engine=info.engine,
        width=info.width,
        height=info.height,
        idle_frame_count=info.idle_frame_count,
        idle_fps=info.idle_fps,
        builtin=info.builtin,
        create_time=created,
        size_bytes=info.size_bytes,
    )


def _progress_proto(event: BuildProgress) -> lipsync_pb2.AvatarProgress:
    return lipsync_pb2.AvatarProgress(
        stage=lipsync_pb2.AvatarStage.Value(f"AVATAR_STAGE_{event.stage.value}"),
        percent=round(event.percent, 1),
        message=event.message,
    )


def _spec(message: lipsync_pb2.AvatarSpec, default_engine: str) -> AvatarSpec:
    engine = message.engine or default_engine
    if engine not in ENGINES:
        raise InvalidArgument(f"unknown engine {engine!r}: use {' or '.join(ENGINES)}")
    options = message.options
    return AvatarSpec(
        avatar_id=message.avatar_id,
        display_name=message.display_name,
        engine=engine,
        options=AvatarOptions(
            blur_background=options.blur_background,
            face_padding=options.face_padding or 0.25,
            max_size=options.max_size or 512,
            idle_loop_seconds=options.idle_loop_seconds or 4.0,
        ),
        video_format=message.video_format.lower(),
    )


async def _audio_inputs(
    requests: AsyncIterator[lipsync_pb2.StreamingAnimateRequest],
) -> AsyncIterator[AudioInput]:
    async for request in requests:
        audio = request.audio
        yield AudioInput(
            pcm=audio.data,
            # Unknown (newer) visemes are skipped; the audio still drives the mouth.
            visemes=tuple(
                VisemeSpan(_VISEMES[hint.viseme], hint.start_ms, hint.end_ms)
                for hint in audio.visemes
                if hint.viseme in _VISEMES
            ),
        )


def _media_frame(
    frame: AnimatedFrame, encoder: FrameEncoder, sample_rate: int
) -> lipsync_pb2.StreamingAnimateResponse:
    return lipsync_pb2.StreamingAnimateResponse(
        frame=media_pb2.MediaFrame(
            video=_video_frame(frame.image, encoder, frame.pts_us),
            audio=media_pb2.AudioChunk(
                data=frame.pcm, pts_us=frame.pts_us, sample_rate_hz=sample_rate
            ),
        ),
        frame_index=frame.index,
        idle_index=frame.idle_index,
    )


@dataclass
class _AnimateCall:
    """What one StreamingAnimate call holds until it is done."""

    animation: Animation | None = None
    frames: int = 0
    #: The call ran to its end or failed with a status (else the client cancelled it).
    finished: bool = False
    released: bool = False


class LipsyncServicer(lipsync_pb2_grpc.LipsyncServiceServicer):
    """vtutor.lipsync.v1.LipsyncService over an engine, an avatar store and a creator.

    Health stays NOT_SERVING and calls are UNAVAILABLE until ``start()`` has opened the store and
    loaded the engine.
    """

    def __init__(
        self,
        settings: LipsyncSettings,
        engine: LipsyncEngine,
        store: AvatarStore,
        creator: AvatarCreator,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store
        self.creator = creator
        self._streams = 0
        self.ready = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: LipsyncSettings) -> LipsyncServicer:
        """The servicer and its parts, constructed; nothing is loaded until ``start()``.

        Raises:
            StartupError: Unknown engine, or its packages are missing.
        """
        engine = create_engine(settings)
        store = AvatarStore(
            settings.avatars_dir,
            engine_name=settings.engine,
            idle_fps=settings.idle_fps,
            default_size=settings.default_avatar_size,
            cache_size=settings.avatar_cache_size,
        )
        creator = AvatarCreator(store, max_video_bytes=settings.max_video_bytes)
        return cls(settings, engine, store, creator)

    @property
    def binding(self) -> ServiceBinding:
        """This servicer, ready to host."""
        return ServiceBinding.of(self, lipsync_pb2_grpc, lipsync_pb2)

    async def start(self) -> None:
        """Opens the avatar store (off the event loop) and starts the engine."""
        await asyncio.to_thread(self.store.open)
        await self.engine.start()
        self.ready.set()
        logger.info("engine %s ready; avatars in %s", self.engine.name, self.store.root)

    async def stop(self) -> None:
        """Waits for clean-ups of cancelled creations, then closes the engine."""
        self.ready.clear()
        await self.creator.wait_idle()
        await self.engine.close()

    def _check_ready(self) -> None:
        if not self.ready.is_set():
            raise Unavailable("lipsync_svc is starting: its engine is not loaded yet")

    async def StreamingAnimate(
        self,
        request_iterator: AsyncIterator[lipsync_pb2.StreamingAnimateRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[lipsync_pb2.StreamingAnimateResponse]:
        self._check_ready()
        config, rest = await split_config(request_iterator, oneof="streaming_request")
        audio_format = config.audio_format
        if audio_format.encoding not in (
            media_pb2.AUDIO_ENCODING_UNSPECIFIED,
            media_pb2.AUDIO_ENCODING_PCM_S16LE,
        ):
            raise InvalidArgument("unsupported audio encoding: send PCM s16le")
        if audio_format.channels not in (0, 1):
            raise InvalidArgument(f"{audio_format.channels} channels: send mono audio")
        rate = check_sample_rate(audio_format.sample_rate_hz)
        fps = _fps(config.fps, DEFAULT_FPS)
        if config.start_idle_index < 0:
            raise InvalidArgument(
                f"start_idle_index {config.start_idle_index} is negative: send the idle-loop "
                "frame on screen, 0 or more"
            )
        if rate % fps:
            raise InvalidArgument(
                f"fps {fps} does not divide the sample rate {rate}: each frame must cover a "
                "whole number of samples"
            )
        if self._streams >= self.settings.max_streams:
            raise ResourceExhausted(
                f"{self._streams} animation streams are running, the limit of this instance"
            )
        # A cancelled call (the gateway cancels at every barge-in) may leave this generator
        # suspended at a yield, never resumed, so that its finally would run only when it is
        # collected: the slot is freed and the animation stopped when the call is done.
        self._streams += 1
        call = _AnimateCall()

        def done(_: object = None) -> None:
            if call.released:
                return
            call.released = True
            self._streams -= 1
            if call.animation is not None:
                call.animation.close()
            if not call.finished:
                # Cancelled by the client (a barge-in): a normal end, not an error.
                logger.info("animation cancelled by the client after %d frames", call.frames)

        # grpc-stubs declare DoneCallback as a class, not a protocol: any callable works.
        context.add_done_callback(done)  # type: ignore[arg-type]
        try:
            avatar = await asyncio.to_thread(self.store.load, config.avatar_id)
            encoder = _encoder(
                avatar.info,
                config.pixel_format,
                config.width,
                config.height,
                self.settings.jpeg_quality,
            )
            stream = await asyncio.to_thread(self.engine.open_stream, avatar, rate, fps)
            call.animation = Animation(
                stream,
                avatar,
                sample_rate=rate,
                fps=fps,
                encoder=encoder,
                batch_size=self.settings.batch_size,
                start_idle_index=config.start_idle_index,
            )
            async for frame in call.animation.run(_audio_inputs(rest)):
                call.frames += 1
                yield _media_frame(frame, encoder, rate)
            call.finished = True
        except Exception:
            call.finished = True  # an error with its own status
            raise
        finally:
            done()

    async def CreateAvatar(
        self,
        request_iterator: AsyncIterator[lipsync_pb2.CreateAvatarRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[lipsync_pb2.CreateAvatarResponse]:
        self._check_ready()
        message, rest = await split_config(request_iterator, oneof="request", config_field="spec")
        spec = _spec(message, self.settings.engine)

        async def chunks() -> AsyncIterator[bytes]:
            async for request in rest:
                yield request.video_chunk

        async for event in self.creator.create(spec, chunks()):
            if isinstance(event, BuildProgress):
                yield lipsync_pb2.CreateAvatarResponse(progress=_progress_proto(event))
            else:
                yield lipsync_pb2.CreateAvatarResponse(avatar=avatar_proto(event))

    async def GetAvatar(
        self, request: lipsync_pb2.GetAvatarRequest, context: grpc.aio.ServicerContext
    ) -> lipsync_pb2.GetAvatarResponse:
        self._check_ready()
        info = await asyncio.to_thread(self.store.get, request.avatar_id)
        return lipsync_pb2.GetAvatarResponse(avatar=avatar_proto(info))

    async def ListAvatars(
        self, request: lipsync_pb2.ListAvatarsRequest, context: grpc.aio.ServicerContext
    ) -> lipsync_pb2.ListAvatarsResponse:
        self._check_ready()
        infos = await asyncio.to_thread(self.store.list)
        return lipsync_pb2.ListAvatarsResponse(avatars=[avatar_proto(i) for i in infos])

    async def DeleteAvatar(
        self, request: lipsync_pb2.DeleteAvatarRequest, context: grpc.aio.ServicerContext
    ) -> lipsync_pb2.DeleteAvatarResponse:
        self._check_ready()
        await asyncio.to_thread(self.store.delete, request.avatar_id)
        logger.info("avatar %s deleted", request.avatar_id)
        return lipsync_pb2.DeleteAvatarResponse()

    async def GetAvatarPreview(
        self, request: lipsync_pb2.GetAvatarPreviewRequest, context: grpc.aio.ServicerContext
    ) -> lipsync_pb2.GetAvatarPreviewResponse:
        self._check_ready()
        image, width, height = await asyncio.to_thread(self.store.preview, request.avatar_id)
        response = lipsync_pb2.GetAvatarPreviewResponse(
            image=image, mime_type="image/jpeg", width=width, height=height
        )
        if request.HasField("speech"):
            speech = request.speech
            if speech.audio_format.encoding not in (
                media_pb2.AUDIO_ENCODING_UNSPECIFIED,
                media_pb2.AUDIO_ENCODING_PCM_S16LE,
            ) or speech.audio_format.channels not in (0, 1):
                raise InvalidArgument("talking sample: send mono PCM s16le speech")
            rate = check_sample_rate(speech.audio_format.sample_rate_hz)
            avatar = await asyncio.to_thread(self.store.load, request.avatar_id)
            visemes = [
                VisemeSpan(_VISEMES[hint.viseme], hint.start_ms, hint.end_ms)
                for hint in speech.visemes
                if hint.viseme in _VISEMES
            ]
            response.talking_video = await asyncio.to_thread(
                render_talking_sample,
                self.engine,
                avatar,
                speech.data,
                rate,
                visemes,
                batch_size=self.settings.batch_size,
            )
            response.talking_video_mime_type = "video/mp4"
        return response

    async def StreamIdleFrames(
        self, request: lipsync_pb2.StreamIdleFramesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[lipsync_pb2.StreamIdleFramesResponse]:
        self._check_ready()
        if request.max_frames < 0:
            raise InvalidArgument("max_frames must not be negative")
        avatar = await asyncio.to_thread(self.store.load, request.avatar_id)
        fps = _fps(request.fps, avatar.info.idle_fps)
        encoder = _encoder(
            avatar.info,
            request.pixel_format,
            request.width,
            request.height,
            self.settings.jpeg_quality,
        )
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index in itertools.count():
            if request.max_frames and index >= request.max_frames:
                return
            picture = avatar.frames[avatar.idle_index(index, fps)]
            image = await asyncio.to_thread(encoder.encode, picture)
            if not request.unpaced:
                await asyncio.sleep(max(0.0, start + index / fps - loop.time()))
            pts_us = index * 1_000_000 // fps
            yield lipsync_pb2.StreamIdleFramesResponse(
                frame=_video_frame(image, encoder, pts_us), frame_index=index
            )


def build_service(settings: LipsyncSettings) -> ServiceParts:
    """The bindings, startup and shutdown that ``run_service`` needs."""
    servicer = LipsyncServicer.from_settings(settings)
    return [servicer.binding], servicer.start, servicer.stop
