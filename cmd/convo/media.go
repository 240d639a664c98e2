package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/mediastore"
)

// MediaConfig is where media are kept, how large they may be and how long
// they are kept.
type MediaConfig struct {
	// MaxBytes bounds one medium (zero: 25 MB).
	MaxBytes int64
	// Retention deletes media older than this (zero: kept forever).
	Retention time.Duration
	// URLTTL is how long a signed media URL works (zero: one hour).
	URLTTL time.Duration
	// S3, when its Endpoint is set, keeps media in a bucket instead of the database.
	S3 mediastore.S3Config
}

// readMediaEnv reads the media settings from CONVO_MEDIA_* and the LINE
// content host from CONVO_LINE_DATA_API_URL.
func (cfg *Config) readMediaEnv() error {
	cfg.LineDataAPIURL = env("CONVO_LINE_DATA_API_URL", "")
	m := &cfg.Media
	if v := os.Getenv("CONVO_MEDIA_MAX_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("CONVO_MEDIA_MAX_BYTES must be a positive number of bytes, got %q", v)
		}
		m.MaxBytes = n
	}
	for name, dst := range map[string]*time.Duration{"CONVO_MEDIA_RETENTION": &m.Retention, "CONVO_MEDIA_URL_TTL": &m.URLTTL} {
		if v := os.Getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return fmt.Errorf("%s must be a duration such as 720h, got %q", name, v)
			}
			*dst = d
		}
	}
	m.S3 = mediastore.S3Config{
		Endpoint: env("CONVO_MEDIA_S3_ENDPOINT", ""), Bucket: env("CONVO_MEDIA_S3_BUCKET", ""),
		AccessKey: env("CONVO_MEDIA_S3_ACCESS_KEY", ""), SecretKey: env("CONVO_MEDIA_S3_SECRET_KEY", ""),
		Region: env("CONVO_MEDIA_S3_REGION", "us-east-1"), Prefix: env("CONVO_MEDIA_S3_PREFIX", ""),
		PathStyle: env("CONVO_MEDIA_S3_PATH_STYLE", "true") == "true",
	}
	return nil
}

// blobs is where media bytes go: S3 when configured, else nil (the database).
func (m MediaConfig) blobs(context.Context, convo.Store) (convo.MediaBlobs, error) {
	if m.S3.Endpoint == "" {
		return nil, nil
	}
	s3, err := mediastore.NewS3(m.S3)
	if err != nil {
		return nil, err
	}
	return s3, nil
}
