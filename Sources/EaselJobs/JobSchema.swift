/// The store's schema, versioned by `PRAGMA user_version`: migration i takes version i to i+1, each in one transaction.
/// Append new migrations; never edit a shipped one.
enum JobSchema {
    static let migrations: [String] = [
        """
        CREATE TABLE jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            model TEXT NOT NULL,
            batch_key TEXT NOT NULL,
            status TEXT NOT NULL,
            priority INTEGER NOT NULL,
            created_ms INTEGER NOT NULL,
            started_ms INTEGER,
            completed_ms INTEGER,
            deadline_ms INTEGER,
            step INTEGER NOT NULL DEFAULT 0,
            steps INTEGER NOT NULL,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            input BLOB NOT NULL,
            metadata BLOB NOT NULL,
            images BLOB,
            error_code TEXT,
            error_message TEXT,
            queue_ms INTEGER,
            inference_ms INTEGER,
            batch_size INTEGER,
            idempotency_key TEXT UNIQUE,
            body_sha256 BLOB,
            webhook_url TEXT,
            webhook_state TEXT,
            webhook_attempts INTEGER NOT NULL DEFAULT 0,
            webhook_last_status INTEGER,
            webhook_last_error TEXT
        );
        CREATE INDEX jobs_queued ON jobs(model, priority DESC, seq) WHERE status = 'queued';
        CREATE INDEX jobs_status_seq ON jobs(status, seq);
        CREATE INDEX jobs_model_seq ON jobs(model, seq);
        CREATE INDEX jobs_completed ON jobs(completed_ms) WHERE completed_ms IS NOT NULL;
        CREATE INDEX jobs_deadline ON jobs(deadline_ms) WHERE status = 'queued' AND deadline_ms IS NOT NULL;
        CREATE TABLE webhook_deliveries (
            id TEXT PRIMARY KEY,
            job_id TEXT NOT NULL,
            url TEXT NOT NULL,
            payload BLOB NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_ms INTEGER NOT NULL,
            created_ms INTEGER NOT NULL
        );
        CREATE INDEX webhook_due ON webhook_deliveries(next_attempt_ms) WHERE state = 'pending';
        CREATE INDEX webhook_job ON webhook_deliveries(job_id);
        """,
        // Counters the executor reports for a finished job (JSON object of integers), shown in its metrics.
        "ALTER TABLE jobs ADD COLUMN engine_metrics BLOB;",
    ]

    static func migrate(_ db: SQLiteConnection) throws {
        let current = try db.queryOne("PRAGMA user_version") { $0.int(0) } ?? 0
        guard current <= migrations.count else {
            throw SQLiteError(code: 0, message: "job store schema version \(current) is newer than this build knows")
        }
        for version in current..<migrations.count {
            try db.transaction {
                try db.exec(migrations[version])
                try db.exec("PRAGMA user_version = \(version + 1)")
            }
        }
    }
}
