"""The FastAPI application: routes, error mapping, and the lifetime of background work."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from web_backend.app import crud
from web_backend.app.api.routes import (
    auth,
    avatars,
    catalog,
    chat,
    documents,
    join,
    pages,
    sessions,
    students,
    tutors,
)
from web_backend.app.core.avatar_jobs import AvatarJobRunner
from web_backend.app.core.config import MIB, Settings
from web_backend.app.core.context import AppContext
from web_backend.app.core.db import make_engine, make_session_factory
from web_backend.app.core.gateway import GatewayClient, GatewayError
from web_backend.app.core.login_throttle import LoginThrottle
from web_backend.app.core.pdf_worker import PdfLimits, PdfTextReader
from web_backend.app.core.security_headers import SecurityHeaders
from web_backend.app.core.turn_recorder import SessionTurnRecorder

logger = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    """The application for `settings`; the database must already be migrated.

    Background work (avatar jobs, turn watchers) starts and stops with the app's lifespan.
    """
    engine = make_engine(settings.resolved_database_url)
    session_factory = make_session_factory(engine)
    gateway = GatewayClient(
        settings.gateway_address,
        settings.gateway_api_key.get_secret_value(),
        timeout_s=settings.gateway_timeout_s,
        avatar_timeout_s=settings.avatar_create_timeout_s,
    )
    ctx = AppContext(
        settings=settings,
        engine=engine,
        sessions=session_factory,
        gateway=gateway,
        jwt_secret=settings.resolved_jwt_secret(),
        avatar_jobs=AvatarJobRunner(session_factory, gateway, settings.data_dir / "voices"),
        turn_recorder=SessionTurnRecorder(session_factory, gateway),
        login_throttle=LoginThrottle(
            per_account=settings.login_limits_per_account,
            per_address=settings.login_limits_per_address,
            storage_uri=settings.login_throttle_storage,
        ),
        pdfs=PdfTextReader(
            PdfLimits(
                max_pages=settings.max_pdf_pages,
                timeout_s=settings.pdf_timeout_s,
                memory_mb=settings.pdf_memory_mb,
                max_chars=settings.max_document_chars,
            ),
            workers=settings.pdf_workers,
        ),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        with session_factory() as db:
            stale = crud.fail_unfinished_jobs(db=db)
        if stale:
            logger.warning("%d avatar job(s) were interrupted by a restart", stale)
        resumed = ctx.turn_recorder.resume_all()
        if resumed:
            logger.info("watching turns of %d live session(s) again", resumed)
        try:
            yield
        finally:
            await ctx.avatar_jobs.stop()
            await ctx.turn_recorder.stop()
            await gateway.close()
            engine.dispose()

    app = FastAPI(title="Virtual Tutor backend", version="0.1.0", lifespan=lifespan)
    app.state.ctx = ctx

    # The largest request the backend takes: a video and a voice sample plus form fields.
    # Refused from its declared length before any of it is read.
    max_request = settings.max_video_bytes + settings.max_voice_bytes + MIB

    @app.middleware("http")
    async def refuse_oversized(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_request:
            return JSONResponse({"detail": "request body too large"}, status_code=413)
        return await call_next(request)

    headers = SecurityHeaders(settings.rtc_edge_url)

    @app.middleware("http")
    async def add_security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        content_type = response.headers.get("content-type", "")
        for name, value in headers.for_response(request.url.path, content_type).items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(GatewayError)
    async def gateway_error(_request: Request, error: GatewayError) -> JSONResponse:
        logger.info("gateway call failed: %s", error.code)
        return JSONResponse(
            {"detail": error.message, "gateway_status": error.code},
            status_code=error.http_status,
        )

    routes = (auth, students, tutors, avatars, documents, sessions, chat, catalog, join, pages)
    for module in routes:
        app.include_router(module.router)
    app.include_router(tutors.jobs_router)
    app.include_router(tutors.student_router)
    app.mount("/static", StaticFiles(directory=pages.UI_DIR), name="static")
    return app
