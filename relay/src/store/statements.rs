//! The statements both backends run, written once. Each backend expands [`backend_statements!`]
//! with its database type, its transaction wrapper, its pool fields and how placeholders are
//! spelled (`?` as written, or numbered for PostgreSQL), plus what only it does on commit.

/// Implements [`super::write::Tx`] for `$tx` and the shared store methods for `$store`.
macro_rules! backend_statements {
    (
        db: $db:ty,
        store: $store:ident { read: $read:ident, write: $write:ident },
        tx: $tx:ident,
        sql: $sql:path,
        $($extra:item)*
    ) => {
        /// Bind a statement's values in order.
        fn bind_all<'q>(
            mut query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            binds: &'q [Bind],
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
            for bind in binds {
                query = match bind {
                    Bind::Blob(b) => query.bind(b.as_slice()),
                    Bind::Int(i) => query.bind(*i),
                    Bind::Text(t) => query.bind(t.as_str()),
                };
            }
            query
        }

        impl $store {
            pub(super) async fn write_batch(&self, jobs: &[WriteJob], quota: Option<u64>) -> Result<Vec<WriteOutcome>, RelayError> {
                let mut tx = self.$write.begin().await?;
                let outcomes = write_all(&mut $tx(&mut tx), jobs, quota).await?;
                tx.commit().await?;
                Ok(outcomes)
            }

            pub(super) async fn count(&self, select: &Select) -> Result<u64, RelayError> {
                let sql = $sql(&select.sql);
                let row = bind_all(sqlx::query(&sql), &select.binds).fetch_one(&self.$read).await?;
                let n: i64 = row.try_get(0)?;
                Ok(u64::try_from(n).unwrap_or_default())
            }

            pub(super) async fn fingerprints(&self, select: &Select) -> Result<Vec<(u64, Vec<u8>)>, RelayError> {
                let sql = $sql(&select.sql);
                let rows = bind_all(sqlx::query(&sql), &select.binds).fetch_all(&self.$read).await?;
                rows.iter()
                    .map(|row| {
                        let at: i64 = row.try_get(0)?;
                        Ok((u64::try_from(at).unwrap_or_default(), row.try_get(1)?))
                    })
                    .collect()
            }

            pub(super) async fn event_json(&self, id: &EventId) -> Result<Option<String>, RelayError> {
                let sql = $sql("SELECT raw FROM events WHERE id = ? UNION ALL SELECT raw FROM ephemeral WHERE id = ? LIMIT 1");
                Ok(sqlx::query_scalar(&sql)
                    .bind(id.as_bytes().as_slice())
                    .bind(id.as_bytes().as_slice())
                    .fetch_optional(&self.$read)
                    .await?)
            }

            pub(super) async fn raw_of_kinds(&self, kinds: &[u16]) -> Result<Vec<String>, RelayError> {
                let sql = $sql(ehr_service::membership::sql::EVENTS_OF_KIND);
                let mut out = Vec::new();
                for kind in kinds {
                    let mut raws: Vec<String> = sqlx::query_scalar(&sql)
                        .bind(i64::from(*kind))
                        .fetch_all(&self.$read)
                        .await?;
                    out.append(&mut raws);
                }
                Ok(out)
            }

            pub(super) async fn access_generation(&self) -> Result<[i64; 5], RelayError> {
                let sql = $sql(ehr_service::membership::sql::ACCESS_GENERATION);
                let row = sqlx::query(&sql)
                    .bind(i64::from(ehr_client::kinds::ROSTER))
                    .bind(i64::from(ehr_client::kinds::GUARDIANSHIP))
                    .fetch_one(&self.$read)
                    .await?;
                Ok([row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?, row.try_get(4)?])
            }

            pub(super) async fn assigned_roles(&self) -> Result<(Vec<(Vec<u8>, String)>, Vec<Vec<u8>>), RelayError> {
                let roles = sqlx::query_as(ehr_service::membership::sql::ASSIGNED_ROLES).fetch_all(&self.$read).await?;
                let bans = sqlx::query_scalar(ehr_service::membership::sql::BANS).fetch_all(&self.$read).await?;
                Ok((roles, bans))
            }

            pub(super) async fn assign_role(
                &self,
                pubkey: &PublicKey,
                role: &str,
                by: &PublicKey,
                now: Timestamp,
            ) -> Result<bool, RelayError> {
                let sql = $sql("INSERT INTO assigned_roles (pubkey, role, assigned_by, assigned_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
                let done = sqlx::query(&sql)
                    .bind(pubkey.to_bytes().as_slice())
                    .bind(role)
                    .bind(by.to_bytes().as_slice())
                    .bind(secs(now))
                    .execute(&self.$write)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            pub(super) async fn unassign_role(&self, pubkey: &PublicKey, role: Option<&str>) -> Result<bool, RelayError> {
                let sql = match role {
                    Some(_) => $sql("DELETE FROM assigned_roles WHERE pubkey = ? AND role = ?"),
                    None => $sql("DELETE FROM assigned_roles WHERE pubkey = ?"),
                };
                let key = pubkey.to_bytes();
                let mut query = sqlx::query(&sql).bind(key.as_slice());
                if let Some(role) = role {
                    query = query.bind(role);
                }
                Ok(query.execute(&self.$write).await?.rows_affected() > 0)
            }

            pub(super) async fn ban(
                &self,
                pubkey: &PublicKey,
                reason: &str,
                by: &PublicKey,
                now: Timestamp,
            ) -> Result<bool, RelayError> {
                let sql = $sql("INSERT INTO bans (pubkey, reason, banned_by, banned_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
                let done = sqlx::query(&sql)
                    .bind(pubkey.to_bytes().as_slice())
                    .bind(reason)
                    .bind(by.to_bytes().as_slice())
                    .bind(secs(now))
                    .execute(&self.$write)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            pub(super) async fn unban(&self, pubkey: &PublicKey) -> Result<bool, RelayError> {
                let sql = $sql("DELETE FROM bans WHERE pubkey = ?");
                let done = sqlx::query(&sql).bind(pubkey.to_bytes().as_slice()).execute(&self.$write).await?;
                Ok(done.rows_affected() > 0)
            }

            pub(super) async fn claim_auth_event(
                &self,
                id: &EventId,
                expires_at: Timestamp,
                now: Timestamp,
            ) -> Result<bool, RelayError> {
                let sql = $sql("DELETE FROM nip98_seen WHERE expires_at < ?");
                sqlx::query(&sql).bind(secs(now)).execute(&self.$write).await?;
                let sql = $sql("INSERT INTO nip98_seen (id, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING");
                let done = sqlx::query(&sql)
                    .bind(id.as_bytes().as_slice())
                    .bind(secs(expires_at))
                    .execute(&self.$write)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            pub(super) async fn purge(&self, now: Timestamp) -> Result<u64, RelayError> {
                let mut tx = self.$write.begin().await?;
                let sql = $sql(
                    "DELETE FROM tags WHERE event_seq IN (SELECT seq FROM events WHERE expires_at IS NOT NULL AND expires_at <= ?)",
                );
                sqlx::query(&sql).bind(secs(now)).execute(&mut *tx).await?;
                let sql = $sql("DELETE FROM events WHERE expires_at IS NOT NULL AND expires_at <= ?");
                let done = sqlx::query(&sql).bind(secs(now)).execute(&mut *tx).await?;
                let sql = $sql("DELETE FROM nip98_seen WHERE expires_at < ?");
                sqlx::query(&sql).bind(secs(now)).execute(&mut *tx).await?;
                // In-flight ephemeral events need only outlive the NOTIFY round trip.
                let sql = $sql("DELETE FROM ephemeral WHERE received_at < ?");
                sqlx::query(&sql).bind(secs(now) - 60).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }

            pub(super) async fn export_page(
                &self,
                after: Option<(i64, Vec<u8>)>,
                page: u32,
            ) -> Result<Vec<(i64, Vec<u8>, String)>, RelayError> {
                let (at, id) = after.unwrap_or((i64::MIN, Vec::new()));
                let sql = $sql("SELECT created_at, id, raw FROM events WHERE (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?");
                Ok(sqlx::query_as(&sql).bind(at).bind(id).bind(i64::from(page)).fetch_all(&self.$read).await?)
            }
        }

        impl Tx for $tx<'_> {
            async fn kind_and_author(&mut self, id: &[u8]) -> Result<Option<(i64, Vec<u8>)>, sqlx::Error> {
                let sql = $sql("SELECT kind, pubkey FROM events WHERE id = ?");
                sqlx::query_as(&sql).bind(id).fetch_optional(&mut *self.0).await
            }

            async fn is_deleted(&mut self, id: &[u8], pubkey: &[u8]) -> Result<bool, sqlx::Error> {
                let sql = $sql("SELECT EXISTS (SELECT 1 FROM deleted WHERE id = ? AND pubkey = ?)");
                sqlx::query_scalar(&sql).bind(id).bind(pubkey).fetch_one(&mut *self.0).await
            }

            async fn versions(
                &mut self,
                pubkey: &[u8],
                kind: i64,
                d_tag: &str,
                until: Option<i64>,
            ) -> Result<Vec<(i64, Vec<u8>)>, sqlx::Error> {
                let sql = $sql(
                    "SELECT created_at, id FROM events WHERE pubkey = ? AND kind = ? AND d_tag = ? AND created_at <= ?",
                );
                sqlx::query_as(&sql)
                    .bind(pubkey)
                    .bind(kind)
                    .bind(d_tag)
                    .bind(until.unwrap_or(i64::MAX))
                    .fetch_all(&mut *self.0)
                    .await
            }

            async fn delete_event(&mut self, id: &[u8]) -> Result<(), sqlx::Error> {
                let sql = $sql("DELETE FROM tags WHERE event_seq IN (SELECT seq FROM events WHERE id = ?)");
                sqlx::query(&sql).bind(id).execute(&mut *self.0).await?;
                let sql = $sql("DELETE FROM events WHERE id = ?");
                sqlx::query(&sql).bind(id).execute(&mut *self.0).await?;
                Ok(())
            }

            async fn deleted_among(&mut self, ids: &[&[u8]]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, sqlx::Error> {
                let mut found = Vec::new();
                for chunk in ids.chunks(EVENT_ROWS_PER_INSERT) {
                    let mut builder = sqlx::QueryBuilder::<$db>::new("SELECT id, pubkey FROM deleted WHERE id IN (");
                    let mut list = builder.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    list.push_unseparated(")");
                    found.extend(builder.build_query_as::<(Vec<u8>, Vec<u8>)>().fetch_all(&mut *self.0).await?);
                }
                Ok(found)
            }

            async fn insert_events(&mut self, rows: &[EventRow<'_>]) -> Result<Vec<(Vec<u8>, i64)>, sqlx::Error> {
                let mut builder = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO events (id, pubkey, created_at, kind, d_tag, expires_at, raw, received_at) ",
                );
                builder.push_values(rows, |mut b, row| {
                    b.push_bind(row.id)
                        .push_bind(row.pubkey)
                        .push_bind(row.created_at)
                        .push_bind(row.kind)
                        .push_bind(row.d_tag)
                        .push_bind(row.expires_at)
                        .push_bind(row.raw)
                        .push_bind(row.received_at);
                });
                builder.push(" ON CONFLICT DO NOTHING RETURNING id, seq");
                builder.build_query_as().fetch_all(&mut *self.0).await
            }

            async fn insert_tags(&mut self, rows: &[TagRow<'_>]) -> Result<(), sqlx::Error> {
                if rows.is_empty() {
                    return Ok(());
                }
                let mut builder =
                    sqlx::QueryBuilder::<$db>::new("INSERT INTO tags (event_seq, name, value, created_at) ");
                builder.push_values(rows, |mut b, row| {
                    b.push_bind(row.seq).push_bind(row.name).push_bind(row.value).push_bind(row.created_at);
                });
                builder.build().execute(&mut *self.0).await?;
                Ok(())
            }

            async fn address_deleted(
                &mut self,
                pubkey: &[u8],
                kind: i64,
                d_tag: &str,
                created_at: i64,
            ) -> Result<bool, sqlx::Error> {
                let sql = $sql(
                    "SELECT EXISTS (SELECT 1 FROM deleted_addresses WHERE pubkey = ? AND kind = ? AND d_tag = ? AND until >= ?)",
                );
                sqlx::query_scalar(&sql)
                    .bind(pubkey)
                    .bind(kind)
                    .bind(d_tag)
                    .bind(created_at)
                    .fetch_one(&mut *self.0)
                    .await
            }

            async fn mark_address_deleted(
                &mut self,
                pubkey: &[u8],
                kind: i64,
                d_tag: &str,
                until: i64,
            ) -> Result<(), sqlx::Error> {
                let sql = $sql(
                    "INSERT INTO deleted_addresses (pubkey, kind, d_tag, until) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (pubkey, kind, d_tag) DO UPDATE SET until = CASE \
                     WHEN excluded.until > deleted_addresses.until THEN excluded.until ELSE deleted_addresses.until END",
                );
                sqlx::query(&sql).bind(pubkey).bind(kind).bind(d_tag).bind(until).execute(&mut *self.0).await?;
                Ok(())
            }

            async fn author_bytes(&mut self, pubkey: &[u8]) -> Result<i64, sqlx::Error> {
                let sql = $sql(super::quota::USAGE_SQL);
                sqlx::query_scalar(&sql).bind(pubkey).fetch_one(&mut *self.0).await
            }

            async fn savepoint(&mut self, step: super::quota::Savepoint) -> Result<(), sqlx::Error> {
                sqlx::query(step.sql()).execute(&mut *self.0).await?;
                Ok(())
            }

            async fn mark_deleted(&mut self, id: &[u8], pubkey: &[u8]) -> Result<(), sqlx::Error> {
                let sql = $sql("INSERT INTO deleted (id, pubkey) VALUES (?, ?) ON CONFLICT DO NOTHING");
                sqlx::query(&sql).bind(id).bind(pubkey).execute(&mut *self.0).await?;
                Ok(())
            }

            $($extra)*
        }
    };
}

pub(super) use backend_statements;
