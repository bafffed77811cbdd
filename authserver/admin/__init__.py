"""Managing the server over HTTP: the admin REST API (`/admin/api/v1`) and dynamic client registration
(RFC 7591 `/register`, RFC 7592 `/register/{client_id}`). Both run the management operations of
`authserver/manage/` that the CLI runs, so every front end validates and refuses alike."""
