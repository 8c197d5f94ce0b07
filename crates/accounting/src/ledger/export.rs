//! Exporting every matching ledger entry as a stream, one keyset page at a time: memory stays
//! at one page, and no transaction or connection is held between pages.

use futures::stream::{self, Stream, TryStreamExt};
use sqlx::PgPool;

use super::entry::LedgerEntry;
use super::listing::{EntryCursor, EntryFilter, list_entries};
use super::scope::Scope;
use crate::AccountingError;

/// Where an export has got to.
struct Pager {
    db: PgPool,
    scope: Scope,
    filter: EntryFilter,
    page_size: i64,
    after: Option<EntryCursor>,
    done: bool,
}

/// Every matching entry in the same order as [`list_entries`], as a stream that reads keyset
/// pages of `page_size` (1..=10_000) one at a time. `'static` so an HTTP handler can stream
/// it. An error (an invalid `page_size`, a failed query) is the stream's last item.
///
/// Entries are read page by page, each page its own snapshot: an entry inserted during the
/// export appears if it sorts after the page being read, never twice.
pub fn export_entries(
    db: PgPool,
    scope: Scope,
    filter: EntryFilter,
    page_size: i64,
) -> impl Stream<Item = Result<LedgerEntry, AccountingError>> + Send + 'static {
    let pager = Pager {
        db,
        scope,
        filter,
        page_size,
        after: None,
        done: false,
    };
    stream::try_unfold(pager, next_page)
        .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
        .try_flatten()
}

/// Reads the page after the pager's position; `None` once the export is complete.
async fn next_page(mut pager: Pager) -> Result<Option<(Vec<LedgerEntry>, Pager)>, AccountingError> {
    if pager.done {
        return Ok(None);
    }
    let page = list_entries(
        &pager.db,
        pager.scope,
        &pager.filter,
        pager.after,
        pager.page_size,
    )
    .await?;
    let Some(last) = page.last() else {
        return Ok(None);
    };
    pager.after = Some(EntryCursor::from(last));
    pager.done = i64::try_from(page.len()).map_or(true, |len| len < pager.page_size);
    Ok(Some((page, pager)))
}
