from django.urls import path

from boards import views

urlpatterns = [
    path("", views.board_list, name="boards"),
    path("add/", views.board_add, name="board_add"),
    path("<int:pk>/", views.board_detail, name="board_detail"),
    path("<int:pk>/share/", views.board_share, name="board_share"),
    path("<int:pk>/delete/", views.board_delete, name="board_delete"),
    path("<int:pk>/download/", views.board_download, name="board_download"),
    path("<int:pk>/images/<uuid:image_id>/remove/", views.board_remove, name="board_remove"),
    path("<int:pk>/images/<uuid:image_id>/file/", views.board_image_file, name="board_image_file"),
    path(
        "<int:pk>/images/<uuid:image_id>/thumbnail/",
        views.board_image_thumbnail,
        name="board_image_thumbnail",
    ),
    path("<int:pk>/images/<uuid:image_id>/remix/", views.board_remix, name="board_remix"),
]
