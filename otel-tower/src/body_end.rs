//! What a response body's frame says of the call it ends, read the same way by the server's and
//! the client's body: the trailers (where a gRPC call's status is), and whether the body ended or
//! failed.

use http::HeaderMap;
use http_body::Frame;

/// How a body's poll ended the call, if it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyEnd {
    /// The last frame: the end of the stream.
    Finished,
    /// The body failed.
    Failed,
}

/// Reads one polled `frame`: hands its trailers to `trailers`, and tells whether the body ended
/// (no more frames, or `end_of_stream` after this one) or failed.
pub(crate) fn body_end<D, E>(
    frame: &Option<Result<Frame<D>, E>>,
    end_of_stream: bool,
    trailers: impl FnOnce(&HeaderMap),
) -> Option<BodyEnd> {
    match frame {
        None => Some(BodyEnd::Finished),
        Some(Err(_)) => Some(BodyEnd::Failed),
        Some(Ok(frame)) => {
            if let Some(frame_trailers) = frame.trailers_ref() {
                trailers(frame_trailers);
            }
            end_of_stream.then_some(BodyEnd::Finished)
        }
    }
}
