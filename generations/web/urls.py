from django.urls import path, re_path, register_converter

from generations.web.parsing import ID_DIGITS, IdConverter
from generations.web.views import characters, gallery, keeping, media, queue, spend, teams, webhooks

# <id:pk>: at most ID_DIGITS digits, so an id too large for the database is a 404 before any query.
register_converter(IdConverter, "id")

urlpatterns = [
    path("", gallery.gallery, name="gallery"),
    path("generate/", gallery.generate, name="generate"),
    path("generate/price/", gallery.price, name="price"),
    path("job-sets/<id:pk>/", gallery.details, name="details"),
    path("job-sets/<id:pk>/card/", gallery.card, name="card"),
    path("job-sets/<id:pk>/reuse/", gallery.reuse, name="reuse"),
    path("job-sets/<id:pk>/cancel/", gallery.cancel, name="cancel"),
    path("job-sets/<id:pk>/stop-waiting/", queue.stop_waiting, name="stop-waiting"),
    path("job-sets/<id:pk>/let-go/", queue.let_go, name="let-go"),
    path("job-sets/<id:pk>/submit-again/", gallery.submit_again, name="submit-again"),
    path("job-sets/<id:pk>/retry-download/", gallery.retry_download, name="retry-download"),
    path("team/", teams.team, name="team"),
    path("team/add/", teams.add_member, name="add-member"),
    path("team/members/<id:pk>/role/", teams.change_role, name="change-role"),
    path("team/members/<id:pk>/remove/", teams.remove_member, name="remove-member"),
    path("team/switch/", teams.switch_team, name="switch-team"),
    path("team/budgets/", teams.set_budgets, name="set-budgets"),
    path("images/<id:pk>/star/", keeping.star, name="star"),
    path("images/<id:pk>/lightbox/", keeping.lightbox, name="lightbox"),
    path("bulk/", keeping.bulk, name="bulk"),
    path("bulk/undo-hide/", keeping.undo_hide, name="undo-hide"),
    path("compare/", keeping.compare, name="compare"),
    path("queue/", keeping.queue, name="queue"),
    path("queue/clear-mine/", queue.clear_mine, name="clear-mine"),
    path("queue/pause/", queue.pause, name="pause-queue"),
    path("queue/resume/", queue.resume, name="resume-queue"),
    path("characters/", characters.characters_page, name="characters"),
    path("characters/<id:pk>/delete/", characters.delete_character, name="delete-character"),
    path("characters/<id:pk>/thumbnail/", characters.thumbnail, name="character-thumbnail"),
    path("styles/<uuid:pk>/preview/", media.style_preview, name="style-preview"),
    re_path(rf"^images/(?P<pk>[0-9]{{1,{ID_DIGITS}}})/(?P<kind>raw|min)/$", media.image, name="image"),
    path("references/<str:token>/", media.reference_link, name="reference-link"),
    path("hooks/soul/<str:token>/", webhooks.receive, name="soul-webhook"),
    path("spend/", spend.spend_page, name="spend"),
    path("spend/export.csv", spend.spend_csv, name="spend-csv"),
    path("spend/chip/", gallery.spend_chip, name="spend-chip"),
]
