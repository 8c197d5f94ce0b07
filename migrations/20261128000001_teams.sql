-- Teams are the tenants that share the one cloro account.
CREATE TABLE teams (
    id         uuid        PRIMARY KEY,
    slug       text        NOT NULL UNIQUE
                           CONSTRAINT teams_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name       text        NOT NULL
                           CONSTRAINT teams_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    status     text        NOT NULL DEFAULT 'active'
                           CONSTRAINT teams_status_known CHECK (status IN ('active', 'suspended')),
    created_at timestamptz NOT NULL DEFAULT now()
);
