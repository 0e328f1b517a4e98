"""A small real client of GatewayService for the tests: sessions and a queue-driven Converse."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import grpc
from vtutor.common.v1 import media_pb2
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from gateway.auth import bearer_metadata
from tests.gateway.conftest import API_KEY

SERVICE_AUTH = bearer_metadata(API_KEY)

DEMO_TUTOR = gateway_pb2.TutorProfile(
    tutor_id="tutor-1",
    display_name="Ada",
    system_prompt="You are a friendly science tutor.",
    language_code="en-US",
    phrase_hints=[
        "what is photosynthesis",
        "how do plants make their food",
        "what is the water cycle",
        "stop please",
        "tell me about the planets",
    ],
)


def tutor(*, video: bool = False) -> gateway_pb2.TutorProfile:
    """The demo tutor, with or without video."""
    profile = gateway_pb2.TutorProfile()
    profile.CopyFrom(DEMO_TUTOR)
    profile.video_enabled = video
    return profile


async def create_session(
    stub: gateway_pb2_grpc.GatewayServiceStub,
    *,
    tenant: str = "school-a",
    student: str = "student-1",
    video: bool = False,
    ttl_seconds: int = 0,
) -> gateway_pb2.CreateSessionResponse:
    """Creates a session with the demo tutor."""
    return await stub.CreateSession(
        gateway_pb2.CreateSessionRequest(
            tenant_id=tenant, student_id=student, tutor=tutor(video=video), ttl_seconds=ttl_seconds
        ),
        metadata=SERVICE_AUTH,
    )


def converse_config(
    session_id: str,
    *,
    modalities: tuple[int, ...] = (),
    interim: bool = False,
    output_rate: int = 16000,
) -> gateway_pb2.ConverseConfig:
    """A Converse config for 16 kHz input."""
    return gateway_pb2.ConverseConfig(
        session_id=session_id,
        input_audio_format=media_pb2.AudioFormat(sample_rate_hz=16000),
        output_audio_format=media_pb2.AudioFormat(sample_rate_hz=output_rate),
        output_modalities=list(modalities),
        interim_transcripts=interim,
    )


class ConverseStream:
    """A Converse call whose requests come from a queue; responses are read as they come."""

    def __init__(
        self,
        stub: gateway_pb2_grpc.GatewayServiceStub,
        token: str | None,
        first: gateway_pb2.ConverseRequest | None,
    ) -> None:
        self._requests: asyncio.Queue[gateway_pb2.ConverseRequest | None] = asyncio.Queue()
        if first is not None:
            self._requests.put_nowait(first)
        metadata = bearer_metadata(token) if token is not None else ()
        self.call = stub.Converse(self._generate(), metadata=metadata)
        self.received: list[gateway_pb2.ConverseResponse] = []

    @classmethod
    def open(
        cls,
        stub: gateway_pb2_grpc.GatewayServiceStub,
        token: str,
        config: gateway_pb2.ConverseConfig,
    ) -> ConverseStream:
        """Opens a stream and sends its config."""
        return cls(stub, token, gateway_pb2.ConverseRequest(config=config))

    async def _generate(self) -> AsyncIterator[gateway_pb2.ConverseRequest]:
        while (request := await self._requests.get()) is not None:
            yield request

    def send(self, request: gateway_pb2.ConverseRequest) -> None:
        """Sends any request."""
        self._requests.put_nowait(request)

    def send_text(self, text: str) -> None:
        """Sends a typed message."""
        self._requests.put_nowait(
            gateway_pb2.ConverseRequest(text=gateway_pb2.TextInput(text=text))
        )

    def send_audio(self, chunk: bytes) -> None:
        """Sends a chunk of 16 kHz PCM."""
        self._requests.put_nowait(gateway_pb2.ConverseRequest(audio=chunk))

    async def stream_audio(self, chunks: list[bytes], *, chunk_ms: int = 20) -> None:
        """Sends chunks in real time."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index, chunk in enumerate(chunks):
            self.send_audio(chunk)
            delay = start + (index + 1) * chunk_ms / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)

    def interrupt(self) -> None:
        """Sends an interrupt."""
        self._requests.put_nowait(gateway_pb2.ConverseRequest(interrupt=gateway_pb2.Interrupt()))

    def close(self) -> None:
        """Half-closes the request stream."""
        self._requests.put_nowait(None)

    async def read(self, timeout_s: float = 60.0) -> gateway_pb2.ConverseResponse | None:
        """The next response (None when the stream has ended)."""
        response = await asyncio.wait_for(self.call.read(), timeout_s)
        if response is grpc.aio.EOF:
            return None
        self.received.append(response)
        return response

    async def read_until(
        self,
        predicate: Callable[[gateway_pb2.ConverseResponse], bool],
        timeout_s: float = 60.0,
    ) -> list[gateway_pb2.ConverseResponse]:
        """Responses up to and including the first that matches ``predicate``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        seen: list[gateway_pb2.ConverseResponse] = []
        while True:
            response = await self.read(max(deadline - loop.time(), 0.01))
            if response is None:
                raise AssertionError(f"stream ended before the expected response: {seen[-5:]}")
            seen.append(response)
            if predicate(response):
                return seen

    async def read_to_end(self, timeout_s: float = 60.0) -> list[gateway_pb2.ConverseResponse]:
        """Every response until the stream ends."""
        seen = []
        while (response := await self.read(timeout_s)) is not None:
            seen.append(response)
        return seen


def turn_event(kind: int) -> Callable[[gateway_pb2.ConverseResponse], bool]:
    """Matches a turn event of one type."""

    def match(response: gateway_pb2.ConverseResponse) -> bool:
        return response.HasField("turn_event") and response.turn_event.type == kind

    return match


def finished_turn(response: gateway_pb2.ConverseResponse) -> bool:
    """Matches a completed, failed or interrupted turn event."""
    return response.HasField("turn_event") and response.turn_event.type in (
        gateway_pb2.TURN_EVENT_TYPE_COMPLETED,
        gateway_pb2.TURN_EVENT_TYPE_FAILED,
        gateway_pb2.TURN_EVENT_TYPE_INTERRUPTED,
    )


def kinds(responses: list[gateway_pb2.ConverseResponse]) -> list[str]:
    """The oneof kind of each response."""
    return [str(r.WhichOneof("response")) for r in responses]


def answer_text(responses: list[gateway_pb2.ConverseResponse], turn_id: str) -> str:
    """The concatenated captions of a turn."""
    return "".join(
        r.assistant_text.delta
        for r in responses
        if r.HasField("assistant_text") and r.assistant_text.turn_id == turn_id
    )
