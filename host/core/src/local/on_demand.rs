//! Drivers made on first use. Opening `kvm:` to list domains should not
//! load the storage and network plugins (a few milliseconds each, most of
//! what a cold `wirt list` costs on a small host).

use std::sync::{Arc, Mutex};

use crate::connect::Result;

/// Makes the driver; called again after a failure, so a plugin that could
/// not load is tried again on the next call that needs it.
type Make<T> = Box<dyn Fn() -> Result<Arc<T>> + Send + Sync>;

/// A driver that is made the first time a call needs it.
pub(crate) struct OnDemand<T: ?Sized> {
    made: Mutex<Option<Arc<T>>>,
    make: Option<Make<T>>,
}

impl<T: ?Sized> OnDemand<T> {
    /// A driver `make` builds when first asked for.
    pub(crate) fn new(make: impl Fn() -> Result<Arc<T>> + Send + Sync + 'static) -> Self {
        OnDemand {
            made: Mutex::new(None),
            make: Some(Box::new(make)),
        }
    }

    /// A driver that exists already.
    pub(crate) fn ready(driver: Arc<T>) -> Self {
        OnDemand {
            made: Mutex::new(Some(driver)),
            make: None,
        }
    }

    /// The driver, made now if this is the first call.
    pub(crate) fn get(&self) -> Result<Arc<T>> {
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(driver) = &*made {
            return Ok(driver.clone());
        }
        let make = self
            .make
            .as_ref()
            .expect("a driver without a maker is made");
        let driver = make()?;
        *made = Some(driver.clone());
        Ok(driver)
    }

    /// The driver if it was made; None if no call has needed it yet.
    pub(crate) fn if_made(&self) -> Option<Arc<T>> {
        self.made.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::Error;
    use crate::error::ErrorCode;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn made_once_on_first_use_and_retried_after_a_failure() {
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        let lazy: OnDemand<u32> = OnDemand::new(move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            if n == 0 {
                Err(Error::api(ErrorCode::INTERNAL_ERROR, "first try fails"))
            } else {
                Ok(Arc::new(7))
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing made at creation");
        assert!(lazy.if_made().is_none());
        assert!(lazy.get().is_err());
        assert_eq!(*lazy.get().unwrap(), 7);
        assert_eq!(*lazy.get().unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(lazy.if_made().as_deref(), Some(&7));
        assert_eq!(*OnDemand::ready(Arc::new(3)).get().unwrap(), 3);
    }
}
