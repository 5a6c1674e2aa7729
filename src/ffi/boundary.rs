//! What every exported function goes through: the panic boundary, the thread's last error,
//! argument checks and handle ownership. Nothing else in `ffi` catches panics, checks NULL or
//! converts pointers by hand.

use std::ffi::{c_char, CStr};

use super::error::{set_last_error, KanoStatus};
pub(crate) use super::error::{FfiError, FfiResult};
use crate::error::Error;

/// Runs an exported function's body: `Ok` is `KANO_STATUS_OK`, an error sets the last error and
/// returns its status, and a panic becomes `KANO_STATUS_PANIC` instead of unwinding into C. The
/// panic is not printed (the host's stderr is not ours); its message is the last error.
pub(crate) fn run(function: &str, body: impl FnOnce() -> FfiResult) -> KanoStatus {
    match crate::quiet_panic::catch(body) {
        Ok(Ok(())) => KanoStatus::Ok,
        Ok(Err(e)) => {
            set_last_error(&format!("{function}: {}", e.message));
            e.status
        }
        Err(message) => {
            set_last_error(&format!("{function}: internal error (panic): {message}"));
            KanoStatus::Panic
        }
    }
}

/// Runs a body that returns a value rather than a status; a panic gives `fallback`.
pub(crate) fn run_value<T>(function: &str, fallback: T, body: impl FnOnce() -> FfiResult<T>) -> T {
    match crate::quiet_panic::catch(body) {
        Ok(Ok(value)) => value,
        Ok(Err(e)) => {
            set_last_error(&format!("{function}: {}", e.message));
            fallback
        }
        Err(message) => {
            set_last_error(&format!("{function}: internal error (panic): {message}"));
            fallback
        }
    }
}

/// The panic boundary around an exported function's body, which returns `FfiResult<()>`.
macro_rules! ffi_boundary {
    ($function:literal, $body:block) => {
        $crate::ffi::boundary::run($function, move || -> $crate::ffi::boundary::FfiResult { $body })
    };
    ($function:literal, fallback = $fallback:expr, $body:block) => {
        $crate::ffi::boundary::run_value($function, $fallback, move || $body)
    };
}

fn null(what: &str) -> FfiError {
    FfiError::new(KanoStatus::NullPointer, format!("{what} is NULL"))
}

/// Borrows the handle behind `ptr`.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` created by this library.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T, what: &str) -> FfiResult<&'a T> {
    // SAFETY: the caller guarantees a non-NULL `ptr` is a live handle.
    unsafe { ptr.as_ref() }.ok_or_else(|| null(what))
}

/// Checks an out-parameter before any work is done.
pub(crate) fn out_param<T>(ptr: *mut T, what: &str) -> FfiResult<()> {
    if ptr.is_null() {
        Err(null(what))
    } else {
        Ok(())
    }
}

/// Writes a result through a checked out-parameter.
///
/// # Safety
/// `ptr` passed [`out_param`] and is valid for writes.
pub(crate) unsafe fn write_out<T>(ptr: *mut T, value: T) {
    // SAFETY: checked non-NULL; the caller guarantees it is writable.
    unsafe { ptr.write(value) }
}

/// Moves a value into a new handle, owned by the caller until its `_free` function.
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Frees a handle made by [`into_handle`]; NULL is a no-op.
///
/// # Safety
/// `ptr` is NULL or a handle from [`into_handle`] not yet freed.
pub(crate) unsafe fn free_handle<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: the caller guarantees `ptr` came from `Box::into_raw` and is freed only once.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// A NUL-terminated UTF-8 name; NULL gives `None`.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string.
pub(crate) unsafe fn optional_name<'a>(ptr: *const c_char, what: &str) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes).map(Some).map_err(|e| Error::invalid_utf8(what, e).into())
}

/// A required NUL-terminated UTF-8 name.
///
/// # Safety
/// As [`optional_name`].
pub(crate) unsafe fn required_name<'a>(ptr: *const c_char, what: &str) -> FfiResult<&'a str> {
    // SAFETY: forwarded contract.
    unsafe { optional_name(ptr, what) }?.ok_or_else(|| null(what))
}

/// Bytes given as (pointer, length): NULL with length 0 is empty.
///
/// # Safety
/// When `len > 0`, `ptr` is NULL or points to `len` readable bytes.
pub(crate) unsafe fn bytes<'a>(ptr: *const c_char, len: usize, what: &str) -> FfiResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(FfiError::new(KanoStatus::NullPointer, format!("{what} is NULL but its length is {len}")));
    }
    if len > isize::MAX as usize {
        return Err(FfiError::new(
            KanoStatus::InvalidArgument,
            format!("{what} length {len} is larger than any buffer"),
        ));
    }
    // SAFETY: non-NULL, and the caller guarantees `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// An array of `n` elements given as (pointer, count): any pointer, NULL too, is empty when
/// `n` is 0; otherwise NULL is refused, and so are a size larger than any buffer and a
/// misaligned pointer.
///
/// # Safety
/// When `n > 0`, `ptr` is NULL or points to `n` readable elements.
pub(crate) unsafe fn array<'a, T>(ptr: *const T, n: usize, what: &str) -> FfiResult<&'a [T]> {
    if n == 0 {
        return Ok(&[]);
    }
    check_array(ptr, n, what)?;
    // SAFETY: non-NULL, aligned, a sane size, and the caller guarantees `n` readable elements.
    Ok(unsafe { std::slice::from_raw_parts(ptr, n) })
}

/// [`array`] for an output array.
///
/// # Safety
/// When `n > 0`, `ptr` is NULL or points to `n` writable elements that nothing else refers to
/// during the call.
pub(crate) unsafe fn array_mut<'a, T>(ptr: *mut T, n: usize, what: &str) -> FfiResult<&'a mut [T]> {
    if n == 0 {
        return Ok(&mut []);
    }
    check_array(ptr, n, what)?;
    // SAFETY: non-NULL, aligned, a sane size, and the caller guarantees `n` writable elements
    // used by nothing else during the call.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, n) })
}

fn check_array<T>(ptr: *const T, n: usize, what: &str) -> FfiResult<()> {
    if ptr.is_null() {
        return Err(FfiError::new(KanoStatus::NullPointer, format!("{what} is NULL but the batch has {n} entries")));
    }
    if n.checked_mul(size_of::<T>()).is_none_or(|size| size > isize::MAX as usize) {
        return Err(FfiError::new(
            KanoStatus::InvalidArgument,
            format!("{what}: {n} entries are larger than any array"),
        ));
    }
    if !ptr.is_aligned() {
        return Err(FfiError::new(KanoStatus::InvalidArgument, format!("{what} is not aligned for its element type")));
    }
    Ok(())
}

/// Text given as (pointer, length): NULL with length 0 is the empty text.
///
/// # Safety
/// As [`bytes`].
pub(crate) unsafe fn text<'a>(ptr: *const c_char, len: usize, what: &str) -> FfiResult<&'a str> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { bytes(ptr, len, what) }?;
    crate::utf8::validate(bytes).map_err(|e| Error::invalid_utf8(what, e).into())
}

#[cfg(test)]
mod tests {
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use super::*;

    fn last_error() -> String {
        // SAFETY: kano_last_error never returns NULL.
        unsafe { CStr::from_ptr(crate::ffi::kano_last_error()) }.to_string_lossy().into_owned()
    }

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let status = run("kano_test", || panic!("boom {}", 42));
        assert_eq!(status, KanoStatus::Panic);
        assert_eq!(last_error(), "kano_test: internal error (panic): boom 42");
        let value = run_value("kano_test_value", 7, || -> FfiResult<i32> { panic!("static message") });
        assert_eq!(value, 7);
        assert!(last_error().ends_with("static message"));
    }

    /// Panics caught at the boundary print nothing (stderr is the host's) and leave their
    /// message for `kano_last_error`, on the caller's thread, a batch's threads and a counter's
    /// workers; panics elsewhere (the Rust API, other threads) still reach the panic hook. Run
    /// in a child process, whose stderr is not captured by the test harness.
    #[test]
    fn caught_panics_are_silent_and_the_others_are_not() {
        const NAME: &str = "ffi::boundary::tests::caught_panics_are_silent_and_the_others_are_not";
        if std::env::var_os("KANO_TEST_CHILD").is_some_and(|v| v == NAME) {
            return panic_in_every_place();
        }
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child.args(["--exact", NAME, "--nocapture", "--test-threads=1", "--quiet"]).env("KANO_TEST_CHILD", NAME);
        for (key, _) in std::env::vars_os().filter(|(k, _)| k.to_string_lossy().starts_with("KANO_TOKENIZER_")) {
            child.env_remove(key);
        }
        let output = child.output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{stdout}\n{stderr}");
        for caught in ["via-count", "via-batch", "via-counter", "via-run"] {
            assert!(!stderr.contains(caught), "a panic caught at the boundary was printed: {caught}\n{stderr}");
        }
        for uncaught in ["rust-api-count", "another-thread", "rust-api-counter"] {
            assert!(stderr.contains(uncaught), "a panic outside the boundary was not printed: {uncaught}\n{stderr}");
        }
        for message in [
            "kano_adapter_count: internal error (panic): via-count",
            "kano_adapter_count_batch: 32 of 32 texts failed; the first, text 0: internal error (panic): via-batch",
            "kano_test: internal error (panic): via-run",
            "counter result: 6",
        ] {
            assert!(stdout.contains(message), "{message:?} missing from\n{stdout}");
        }
    }

    /// The child of `caught_panics_are_silent_and_the_others_are_not`: prints each last error.
    fn panic_in_every_place() {
        use crate::adapter::PANIC_FOR_TESTS;
        use crate::ffi::*;
        use std::ptr::{null, null_mut};

        let toml = "[tokenizer]\nbatch_threads = 2\n";
        let (mut registry, mut adapter) = (null_mut(), null_mut());
        unsafe {
            assert_eq!(kano_registry_from_toml(toml.as_ptr().cast(), toml.len(), &mut registry), KanoStatus::Ok);
            assert_eq!(kano_registry_resolve(registry, c"heuristic".as_ptr(), null(), &mut adapter), KanoStatus::Ok);
        }
        let text = format!("{PANIC_FOR_TESTS}via-count");
        let mut count = KanoCount { count: 0, is_exact: false, method: KanoMethod::Heuristic };
        let status = unsafe { kano_adapter_count(adapter, text.as_ptr().cast(), text.len(), &mut count) };
        assert_eq!(status, KanoStatus::Panic);
        println!("{}", last_error());

        // 128 KiB in 32 texts: split across the batch's two threads.
        let texts: Vec<String> = (0..32).map(|_| format!("{PANIC_FOR_TESTS}via-batch{}", " ".repeat(4096))).collect();
        let pointers: Vec<*const c_char> = texts.iter().map(|t| t.as_ptr().cast()).collect();
        let lens: Vec<usize> = texts.iter().map(String::len).collect();
        let (mut counts, mut statuses) = (vec![0u64; 32], vec![KanoStatus::Ok; 32]);
        let status = unsafe {
            kano_adapter_count_batch(
                adapter,
                pointers.as_ptr(),
                lens.as_ptr(),
                32,
                counts.as_mut_ptr(),
                statuses.as_mut_ptr(),
            )
        };
        assert_eq!(status, KanoStatus::BatchPartial);
        assert!(statuses.iter().all(|&s| s == KanoStatus::Panic));
        println!("{}", last_error().trim_end());

        let mut counter = null_mut();
        let text = format!("{PANIC_FOR_TESTS}via-counter");
        let mut result = KanoCountResult { request_id: 0, status: KanoStatus::Ok, count };
        unsafe {
            assert_eq!(kano_counter_new(adapter, null(), &mut counter), KanoStatus::Ok);
            assert_eq!(kano_counter_submit(counter, 1, text.as_ptr().cast(), text.len()), KanoStatus::Ok);
            assert_eq!(kano_counter_flush(counter, 30_000), KanoStatus::Ok);
            assert_eq!(kano_counter_poll(counter, &mut result, 1), 1);
            kano_counter_free(counter);
        }
        println!("counter result: {}", result.status as u32);

        assert_eq!(run("kano_test", || panic!("via-run")), KanoStatus::Panic);
        println!("{}", last_error());

        // Outside the boundary: the Rust API, on this thread and a counter's workers, and a
        // thread of the host's.
        let rust_adapter = crate::Registry::with_env(crate::Config::default(), &|_| None)
            .resolve_adapter(crate::AdapterName::Heuristic)
            .unwrap();
        let text = format!("{PANIC_FOR_TESTS}rust-api-count");
        assert!(catch_unwind(AssertUnwindSafe(|| rust_adapter.count(&text))).is_err());
        assert!(std::thread::spawn(|| panic!("another-thread")).join().is_err());
        let counter = crate::Counter::new(rust_adapter, Default::default(), crate::counter::Delivery::Poll).unwrap();
        counter.submit(1, format!("{PANIC_FOR_TESTS}rust-api-counter").as_bytes()).unwrap();
        counter.flush(std::time::Duration::from_secs(30)).unwrap();
        unsafe {
            kano_adapter_free(adapter);
            kano_registry_free(registry);
        }
    }

    #[test]
    fn errors_set_the_message_and_success_keeps_it() {
        let status = run("kano_test", || Err(FfiError::new(KanoStatus::UnknownModel, "no such model \"x\"")));
        assert_eq!(status, KanoStatus::UnknownModel);
        assert_eq!(run("kano_test", || Ok(())), KanoStatus::Ok);
        assert_eq!(last_error(), "kano_test: no such model \"x\"");
        // A NUL inside a message cannot cut it short.
        let _ = run("kano_test", || Err(FfiError::new(KanoStatus::InvalidArgument, "a\0b")));
        assert_eq!(last_error(), "kano_test: a\\0b");
    }
}
