from django.urls import path

from boards.api import views

app_name = "boards-api"

urlpatterns = [
    path("boards", views.boards, name="boards"),
    path("boards/<int:board_id>", views.board, name="board"),
    path("boards/<int:board_id>/images", views.board_images, name="board-images"),
    path("boards/<int:board_id>/images/<str:image_id>", views.board_image, name="board-image"),
]
