"""All API routes in one router."""

from fastapi import APIRouter

from sguardo.service.api.routes import admin, classify, embed, health, images, localize, search

api_router = APIRouter()
for module in (embed, search, images, classify, localize, health, admin):
    api_router.include_router(module.router)
