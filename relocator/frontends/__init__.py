"""Front ends: turn what the user wrote (lists, YAML, kbld and imgpkg locks) into image inputs."""
