from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from presets.sharing import Shared


class Board(Shared):
    """Images a person gathered; seen by those it is shared with, changed by its owner."""

    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    images: models.ManyToManyField[Any, Any] = models.ManyToManyField(
        "generations.Image", through="BoardImage", related_name="boards", blank=True
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("board")
        verbose_name_plural = _("boards")
        indexes = [models.Index(fields=["owner", "name"], name="board_owner_name")]

    def __str__(self) -> str:
        return self.name


class BoardImage(models.Model):
    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="items")
    # The image stays its owner's: deleting or erasing it removes it from every board.
    image = models.ForeignKey(
        "generations.Image", on_delete=models.CASCADE, related_name="board_items"
    )
    added_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        ordering = ["-added_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["board", "image"], name="board_image_once"),
        ]
        indexes = [models.Index(fields=["board", "-added_at", "-id"], name="board_item_order")]

    def __str__(self) -> str:
        return f"{self.board_id}: {self.image_id}"
