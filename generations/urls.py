from django.urls import path, re_path

from . import webhooks
from .views import characters, gallery, keeping, media, spend, teams

urlpatterns = [
    path("", gallery.gallery, name="gallery"),
    path("generate/", gallery.generate, name="generate"),
    path("generate/price/", gallery.price, name="price"),
    path("job-sets/<int:pk>/", gallery.details, name="details"),
    path("job-sets/<int:pk>/card/", gallery.card, name="card"),
    path("job-sets/<int:pk>/reuse/", gallery.reuse, name="reuse"),
    path("job-sets/<int:pk>/cancel/", gallery.cancel, name="cancel"),
    path("job-sets/<int:pk>/submit-again/", gallery.submit_again, name="submit-again"),
    path("job-sets/<int:pk>/retry-download/", gallery.retry_download, name="retry-download"),
    path("team/", teams.team, name="team"),
    path("team/add/", teams.add_member, name="add-member"),
    path("team/members/<int:pk>/role/", teams.change_role, name="change-role"),
    path("team/members/<int:pk>/remove/", teams.remove_member, name="remove-member"),
    path("team/switch/", teams.switch_team, name="switch-team"),
    path("team/budgets/", teams.set_budgets, name="set-budgets"),
    path("images/<int:pk>/star/", keeping.star, name="star"),
    path("images/<int:pk>/lightbox/", keeping.lightbox, name="lightbox"),
    path("bulk/", keeping.bulk, name="bulk"),
    path("bulk/undo-hide/", keeping.undo_hide, name="undo-hide"),
    path("compare/", keeping.compare, name="compare"),
    path("queue/", keeping.queue, name="queue"),
    path("characters/", characters.characters, name="characters"),
    path("characters/<int:pk>/delete/", characters.delete_character, name="delete-character"),
    path("characters/<int:pk>/thumbnail/", characters.thumbnail, name="character-thumbnail"),
    path("styles/<uuid:pk>/preview/", media.style_preview, name="style-preview"),
    re_path(r"^images/(?P<pk>[0-9]+)/(?P<kind>raw|min)/$", media.image, name="image"),
    path("references/<str:token>/", media.reference_link, name="reference-link"),
    path("hooks/soul/<str:token>/", webhooks.receive, name="soul-webhook"),
    path("spend/", spend.spend_page, name="spend"),
    path("spend/export.csv", spend.spend_csv, name="spend-csv"),
    path("spend/chip/", gallery.spend_chip, name="spend-chip"),
]
