//! DuckDB's Arrow record batches as polars frames, through the Arrow C data
//! interface: the buffers DuckDB filled are handed to polars as they are,
//! with no row-by-row copy.

use flowmeter_store::arrow::array::Array as _;
use flowmeter_store::arrow::ffi::{to_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use flowmeter_store::RecordBatch;
use polars::prelude::*;
use polars_arrow::ffi::{import_array_from_c, import_field_from_c, ArrowArray, ArrowSchema};

use crate::AnalysisError;

// Both sides of each transmute below are the C data interface's structs.
const _: () = {
    use std::mem::{align_of, size_of};
    assert!(size_of::<FFI_ArrowArray>() == size_of::<ArrowArray>());
    assert!(align_of::<FFI_ArrowArray>() == align_of::<ArrowArray>());
    assert!(size_of::<FFI_ArrowSchema>() == size_of::<ArrowSchema>());
    assert!(align_of::<FFI_ArrowSchema>() == align_of::<ArrowSchema>());
};

fn err(e: impl std::fmt::Display) -> AnalysisError {
    AnalysisError::Series(format!("arrow to polars: {e}"))
}

/// One polars frame of `batches` (all with the same schema); `None` when
/// there is no batch to take the schema from.
pub(crate) fn frame(batches: &[RecordBatch]) -> Result<Option<DataFrame>, AnalysisError> {
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let mut columns = Vec::with_capacity(first.num_columns());
    for i in 0..first.num_columns() {
        let mut field = None;
        let mut chunks = Vec::with_capacity(batches.len());
        for batch in batches {
            let (array, schema) = to_ffi(&batch.column(i).to_data()).map_err(err)?;
            // SAFETY: both pairs of types are the C data interface's
            // `ArrowArray` and `ArrowSchema` (#[repr(C)], same fields, same
            // size: transmute checks it). Ownership moves with the bits:
            // arrow-rs does not release what it gave away, polars releases
            // the schema when `schema` drops and the array with its chunk.
            let (array, schema) = unsafe {
                (
                    std::mem::transmute::<FFI_ArrowArray, ArrowArray>(array),
                    std::mem::transmute::<FFI_ArrowSchema, ArrowSchema>(schema),
                )
            };
            // SAFETY: `schema` and `array` were just exported by arrow-rs
            // from a valid array.
            let f = unsafe { import_field_from_c(&schema) }.map_err(err)?;
            let chunk = unsafe { import_array_from_c(array, f.dtype().clone()) }.map_err(err)?;
            chunks.push(chunk);
            field.get_or_insert(f);
        }
        let field = field.expect("at least one batch");
        // The C interface carries arrays, not names: the name is the
        // batch schema's.
        let name = first.schema().field(i).name().as_str().into();
        let series = Series::try_from((&field, chunks)).map_err(err)?;
        columns.push(series.with_name(name).into_column());
    }
    DataFrame::new_infer_height(columns).map(Some).map_err(err)
}
