"""Google Chat's `spaces.messages.create`, as the Chat app.

App authentication: the function's own service account (Application Default Credentials)
with the `https://www.googleapis.com/auth/chat.bot` scope, which needs no administrator
approval ("Authenticate as a Google Chat app",
https://developers.google.com/workspace/chat/authenticate-authorize-chat-app). The app posts
only where it is a member of the space; Chat answers 403 elsewhere. Only a Chat app's cards
carry buttons that reach the app (here, the `approve` function).

The request (https://developers.google.com/workspace/chat/api/reference/rest/v1/spaces.messages/create):
`POST https://chat.googleapis.com/v1/{parent=spaces/*}/messages` with the Message as the body,
`messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD` so that a message whose
`thread.threadKey` names a thread the app started replies in it (and the first one starts
it), and `requestId`: "Specifying an existing request ID returns the message created with
that ID instead of creating a new message", so a delivery made again after its answer was
lost posts nothing new.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pullfix.core.model import GoogleApiError, TransientError

if TYPE_CHECKING:
    from pullfix.gcp.clients import GoogleClients

__all__ = ["CHAT_SCOPE", "REPLY_IN_THREAD", "ChatMessages"]

CHAT_SCOPE = "https://www.googleapis.com/auth/chat.bot"
REPLY_IN_THREAD = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"


class ChatMessages:
    """Messages the Chat app posts (notify's `ChatApp` port)."""

    def __init__(self, clients: GoogleClients, timeout: float) -> None:
        self.clients = clients  # its Chat session is made on the first post
        self.timeout = timeout

    def create(self, space: str, message: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        """Post `message` in `space` (`spaces/ID`); the Message Chat answers with. Raises
        GoogleApiError for Chat's refusals, TransientError when Chat could not be reached."""
        try:
            return self.clients.chat.post(
                "chat",
                "/v1/spaces/{}/messages",
                space.removeprefix("spaces/"),
                body=message,
                params={"requestId": request_id, "messageReplyOption": REPLY_IN_THREAD},
                timeout=self.timeout,
            )
        except GoogleApiError:
            raise
        except Exception as exc:  # the transport's and google-auth's token errors
            # The type names the failure; the text could quote a URL or a token's claims.
            raise TransientError(f"Google Chat API: {type(exc).__name__}") from None
