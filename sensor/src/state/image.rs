//! Splitting an image reference (`[registry[:port]/]path[:tag][@digest]`)
//! into repository, tag and digest, as `container.image.repository` /
//! `.tag` / `.digest` render them.

/// Parts of an image reference; empty strings for absent parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageParts {
    pub repository: String,
    pub tag: String,
    pub digest: String,
}

/// Splits without normalising (no implied `docker.io/library/` or `latest`):
/// rules compare against what the operator wrote.
pub fn split_image_ref(reference: &str) -> ImageParts {
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, d),
        None => (reference, ""),
    };
    // A ':' after the last '/' is a tag; one before it is a registry port.
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], &name[last_slash + i + 1..]),
        None => (name, ""),
    };
    ImageParts {
        repository: repository.to_string(),
        tag: tag.to_string(),
        digest: digest.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn splits_references() {
        let d = "sha256:0f3e1a2b";
        let cases = [
            ("busybox", "busybox", "", ""),
            ("busybox:1.36", "busybox", "1.36", ""),
            (
                "docker.io/library/nginx:1.25",
                "docker.io/library/nginx",
                "1.25",
                "",
            ),
            ("localhost:5000/app", "localhost:5000/app", "", ""),
            ("localhost:5000/app:v2", "localhost:5000/app", "v2", ""),
            (
                "reg.example.com:443/a/b/c:1.0-rc1",
                "reg.example.com:443/a/b/c",
                "1.0-rc1",
                "",
            ),
            ("quay.io/x/y@sha256:0f3e1a2b", "quay.io/x/y", "", d),
            (
                "quay.io:8443/x/y:3@sha256:0f3e1a2b",
                "quay.io:8443/x/y",
                "3",
                d,
            ),
            (
                "registry.k8s.io/pause:3.6",
                "registry.k8s.io/pause",
                "3.6",
                "",
            ),
            ("", "", "", ""),
        ];
        for (input, repo, tag, digest) in cases {
            let p = split_image_ref(input);
            assert_eq!(
                (p.repository.as_str(), p.tag.as_str(), p.digest.as_str()),
                (repo, tag, digest),
                "{input}"
            );
        }
    }
}
